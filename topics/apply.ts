import type { Kafka } from 'kafkajs';
import kafkajs from 'kafkajs';
const { ConfigResourceTypes } = kafkajs;
import type { AvroSerde } from '../runtime/serde.ts';
import { loadSchema } from '../runtime/serde.ts';
import { brandTopics, valueSubject, type TopicSpec } from './catalog.ts';

export interface ApplyOptions {
  replicationFactor?: number;
  /** Report what would change, change nothing. */
  dryRun?: boolean;
}

/** The topic configs rateline manages; anything else on a topic is left alone. */
function desiredConfig(spec: TopicSpec): Record<string, string> {
  const config: Record<string, string> = { 'cleanup.policy': spec.cleanupPolicy };
  if (spec.cleanupPolicy === 'delete' && spec.retentionMs !== undefined) config['retention.ms'] = String(spec.retentionMs);
  return config;
}

/**
 * Makes the cluster and the registry match the declared topics: creates missing topics, adds
 * partitions, corrects managed configs, registers each value schema with BACKWARD compatibility.
 * Idempotent: returns the list of changes made, empty when everything already matched.
 */
export async function applyTopics(kafka: Kafka, serde: AvroSerde | undefined, specs: TopicSpec[], options: ApplyOptions = {}): Promise<string[]> {
  const changes: string[] = [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.name));
    if (missing.length > 0) {
      if (!options.dryRun) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: options.replicationFactor ?? 1,
            configEntries: Object.entries(desiredConfig(s)).map(([name, value]) => ({ name, value })),
          })),
        });
      }
      for (const s of missing) changes.push(`created topic ${s.name} (${s.partitions} partitions, ${s.cleanupPolicy})`);
    }

    const present = specs.filter((s) => existing.has(s.name));
    if (present.length > 0) {
      const metadata = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
      const partitionsOf = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: present.map((s) => ({ type: ConfigResourceTypes.TOPIC, name: s.name, configNames: Object.keys(desiredConfig(s)) })),
      });
      const currentConfig = new Map(configs.resources.map((r) => [r.resourceName, new Map(r.configEntries.map((e) => [e.configName, e.configValue]))]));
      for (const spec of present) {
        const partitions = partitionsOf.get(spec.name) ?? 0;
        if (partitions < spec.partitions) {
          if (!options.dryRun) await admin.createPartitions({ topicPartitions: [{ topic: spec.name, count: spec.partitions }] });
          changes.push(`topic ${spec.name}: partitions ${partitions} -> ${spec.partitions}`);
        } else if (partitions > spec.partitions) {
          changes.push(`topic ${spec.name}: has ${partitions} partitions, declared ${spec.partitions} (Kafka cannot remove partitions; left as is)`);
        }
        const want = desiredConfig(spec);
        const have = currentConfig.get(spec.name) ?? new Map<string, string>();
        const differing = Object.entries(want).filter(([name, value]) => have.get(name) !== value);
        if (differing.length > 0) {
          if (!options.dryRun) {
            await admin.alterConfigs({
              validateOnly: false,
              resources: [{ type: ConfigResourceTypes.TOPIC, name: spec.name, configEntries: Object.entries(want).map(([name, value]) => ({ name, value })) }],
            });
          }
          for (const [name, value] of differing) changes.push(`topic ${spec.name}: ${name} ${have.get(name) ?? '(unset)'} -> ${value}`);
        }
      }
    }
  } finally {
    await admin.disconnect();
  }

  if (serde) {
    for (const spec of specs) {
      if (!spec.schema) continue;
      const subject = valueSubject(spec.name);
      const schema = loadSchema(spec.schema);
      const id = await serde.lookup(subject, schema);
      if (id !== undefined) continue;
      if (!options.dryRun) {
        const registered = await serde.register(subject, schema);
        changes.push(`registered schema ${spec.schema} under ${subject} (id ${registered}, BACKWARD)`);
      } else {
        changes.push(`would register schema ${spec.schema} under ${subject}`);
      }
    }
  }
  return changes;
}

/**
 * For an outbox relay publishing on per-brand topics: creates the brand's topics and registers
 * their schemas the first time the brand has an event to send.
 */
export function brandTopicsPreparer(kafka: Kafka, serde: AvroSerde): (topic: string, brand: string | null) => Promise<void> {
  return async (topic, brand) => {
    if (brand === null) throw new Error(`an event for ${topic} carries no brand: its brand topics cannot be created`);
    await applyTopics(kafka, serde, Object.values(brandTopics(brand)));
  };
}
