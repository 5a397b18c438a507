import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { avroOptions } from './avro-decimal.ts';
import { InvalidInputError, TransientError } from './errors.ts';

const MAGIC_BYTE = 0;
export const schemasDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'schemas');

/** Reads an Avro schema from schemas/<name>.avsc. */
export function loadSchema(name: string): avro.Schema {
  return JSON.parse(fs.readFileSync(path.join(schemasDir, `${name}.avsc`), 'utf8')) as avro.Schema;
}

// A fresh options object each time: avsc records named types in `opts.registry`, so a shared one
// would make the second schema with the same record name fail as a duplicate.
export const avroType = (schema: avro.Schema) => avro.Type.forSchema(schema, { ...avroOptions });

/**
 * Avro with the Confluent wire format (magic byte 0, 4-byte schema id, Avro body), through any
 * Confluent-compatible registry. Types are cached by schema id, so encoding and decoding are
 * synchronous on the hot path; only a schema id never seen before costs a registry round trip
 * (`prepare`). Records written with an older schema are resolved to the reader's schema.
 */
export class AvroSerde {
  private readonly writers = new Map<number, avro.Type>();
  private readonly resolvers = new Map<string, ReturnType<avro.Type['createResolver']>>();
  private readonly registry: SchemaRegistry;

  constructor(private readonly registryUrl: string) {
    this.registry = new SchemaRegistry({ host: registryUrl, clientId: 'rateline' }, { [SchemaType.AVRO]: { ...avroOptions } });
  }

  /** Registers a schema under `<topic>-value` with BACKWARD compatibility; returns its id. */
  async register(subject: string, schema: avro.Schema): Promise<number> {
    try {
      const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: COMPATIBILITY.BACKWARD });
      this.writers.set(id, avroType(schema));
      return id;
    } catch (cause) {
      throw new TransientError('schema_register_failed', `register schema under ${subject}`, cause);
    }
  }

  /** The id of this exact schema under a subject, or undefined when it is not registered there. */
  async lookup(subject: string, schema: avro.Schema): Promise<number | undefined> {
    try {
      return await this.registry.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: JSON.stringify(schema) });
    } catch {
      return undefined;
    }
  }

  /** An encoder bound to a registered schema id: returns wire bytes synchronously. */
  encoder<T>(schemaId: number): (value: T) => Buffer {
    const type = this.writers.get(schemaId);
    if (!type) throw new Error(`schema id ${schemaId} was not registered or prepared by this serde`);
    // Encoded into a scratch buffer after the 5-byte header, then copied once into a buffer of the
    // exact size (from Node's pool when small): one allocation per message, not three.
    let scratch = Buffer.allocUnsafe(16 * 1024);
    const writeHeader = () => {
      scratch.writeUInt8(MAGIC_BYTE, 0);
      scratch.writeInt32BE(schemaId, 1);
    };
    writeHeader();
    return (value: T) => {
      let end = type.encode(value, scratch, 5);
      if (end < 0) {
        // avsc returns minus the bytes missing.
        scratch = Buffer.allocUnsafe(Math.max(2 * scratch.length, scratch.length - end + 1024));
        writeHeader();
        end = type.encode(value, scratch, 5);
      }
      const out = Buffer.allocUnsafe(end);
      scratch.copy(out, 0, 0, end);
      return out;
    };
  }

  /** Fetches (once) the writer schemas of these messages so that `decode` stays synchronous. */
  async prepare(messages: Iterable<Buffer | null>): Promise<void> {
    const missing = new Set<number>();
    for (const message of messages) {
      if (message && message.length >= 5 && message[0] === MAGIC_BYTE) {
        const id = message.readInt32BE(1);
        if (!this.writers.has(id)) missing.add(id);
      }
    }
    for (const id of missing) {
      try {
        // The raw schema text, parsed with our logical types (the registry client's own parse
        // would read decimals as plain bytes).
        const response = await fetch(`${this.registryUrl.replace(/\/$/, '')}/schemas/ids/${id}`, { signal: AbortSignal.timeout(10_000) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const { schema } = (await response.json()) as { schema: string };
        this.writers.set(id, avroType(JSON.parse(schema) as avro.Schema));
      } catch (cause) {
        throw new TransientError('schema_fetch_failed', `fetch schema id ${id} from the registry`, cause);
      }
    }
  }

  /**
   * Decodes one message into the reader's type. Throws InvalidInputError (not retryable) for bytes
   * that are not Confluent Avro, so the consumer rejects them with a reason instead of looping.
   */
  decode<T>(message: Buffer, reader?: avro.Type): T {
    if (message.length < 5 || message[0] !== MAGIC_BYTE) throw new InvalidInputError('not_confluent_avro', 'the message does not start with the Confluent magic byte and schema id');
    const id = message.readInt32BE(1);
    const writer = this.writers.get(id);
    if (!writer) throw new Error(`schema id ${id} not prepared: call prepare() on the batch first`);
    const body = message.subarray(5);
    try {
      if (!reader) return writer.fromBuffer(body) as T;
      const key = `${id}:${reader.name ?? ''}`;
      let resolver = this.resolvers.get(key);
      if (!resolver) {
        resolver = reader.createResolver(writer);
        this.resolvers.set(key, resolver);
      }
      return reader.fromBuffer(body, resolver) as T;
    } catch (cause) {
      throw new InvalidInputError('undecodable_avro', `the message body does not decode with schema id ${id}: ${(cause as Error).message}`);
    }
  }
}
