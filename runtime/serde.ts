import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { SchemaRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry';
import { avroOptions } from './avro-decimal.ts';
import { InvalidInputError, TransientError } from './errors.ts';

type Resolver = ReturnType<avro.Type['createResolver']>;
const MAGIC_BYTE = 0;
/** The broker's default message.max.bytes: anything larger was not written by a normal producer. */
const MAX_RECORD_BYTES = 1024 * 1024;
const UNKNOWN_ID_RECHECK_MS = 60_000;
/**
 * Apicurio on SQL storage can hold a registration for minutes when another one inserts the same
 * content at once (a hot sequences row, a unique violation on the content hash): each registry
 * call gets a bound, and a registration that timed out or failed on the server is tried again.
 */
const REGISTRY_CALL_TIMEOUT_MS = 15_000;
const REGISTER_ATTEMPTS = 5;
/** Answers that another try cannot change: incompatible (409), invalid (422), refused (401, 403). */
const FINAL_REGISTER_STATUSES = new Set([401, 403, 409, 422]);
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
  private readonly readers = new Map<string, avro.Type>();
  private readonly readings = new Map<string, avro.Type | { reader: avro.Type; resolver: Resolver }>();
  /** Ids the registry answered 404 for, with when. */
  private readonly unknownIds = new Map<number, number>();
  private readonly registry: SchemaRegistry;

  private readonly registerAttempts: number;

  constructor(
    private readonly registryUrl: string,
    options: { callTimeoutMs?: number; registerAttempts?: number } = {},
  ) {
    const timeout = options.callTimeoutMs ?? REGISTRY_CALL_TIMEOUT_MS;
    this.registerAttempts = options.registerAttempts ?? REGISTER_ATTEMPTS;
    const boundEveryCall = () => ({
      prepareRequest: async (next: () => Promise<{ enhance: (extras: { timeout: number }) => unknown }>) => (await next()).enhance({ timeout }),
    });
    this.registry = new SchemaRegistry(
      { host: registryUrl, clientId: 'rateline', middlewares: [boundEveryCall as never] },
      { [SchemaType.AVRO]: { ...avroOptions } },
    );
  }

  /**
   * Registers a schema under `<topic>-value` with BACKWARD compatibility; returns its id. A call
   * that timed out or failed on the registry is tried again (registering the same schema twice
   * gives the same id); an incompatible or invalid schema fails at once.
   */
  async register(subject: string, schema: avro.Schema): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { id } = await this.registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject, compatibility: COMPATIBILITY.BACKWARD });
        this.writers.set(id, avroType(schema));
        return id;
      } catch (cause) {
        const status = (cause as { status?: number }).status;
        if (attempt >= this.registerAttempts || (status !== undefined && FINAL_REGISTER_STATUSES.has(status))) {
          throw new TransientError('schema_register_failed', `register schema under ${subject} (${attempt} attempts)`, cause);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** attempt, 5_000)));
      }
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

  /**
   * Fetches (once) the writer schemas of these messages so that `decode` stays synchronous. An
   * id the registry answers 404 for is remembered as unknown for a minute (a producer may register
   * it late): `decode` then rejects its records as `unknown_schema` instead of the stage retrying
   * forever. A registry that is down, slow or failing (5xx) is transient: the batch is retried.
   */
  async prepare(messages: Iterable<Buffer | null>): Promise<void> {
    const missing = new Set<number>();
    const now = Date.now();
    for (const message of messages) {
      if (message && message.length >= 5 && message[0] === MAGIC_BYTE) {
        const id = message.readInt32BE(1);
        if (this.writers.has(id)) continue;
        const unknownSince = this.unknownIds.get(id);
        if (unknownSince === undefined || now - unknownSince > UNKNOWN_ID_RECHECK_MS) missing.add(id);
      }
    }
    for (const id of missing) {
      let response: Response;
      try {
        // The raw schema text, parsed with our logical types (the registry client's own parse
        // would read decimals as plain bytes).
        response = await fetch(`${this.registryUrl.replace(/\/$/, '')}/schemas/ids/${id}`, { signal: AbortSignal.timeout(10_000) });
      } catch (cause) {
        throw new TransientError('registry_unavailable', `fetch schema id ${id} from the registry`, cause);
      }
      if (response.status === 404) {
        await response.body?.cancel();
        this.unknownIds.set(id, now);
        continue;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new TransientError('registry_unavailable', `fetch schema id ${id} from the registry: HTTP ${response.status}`);
      }
      let type: avro.Type;
      try {
        const { schema } = (await response.json()) as { schema: string };
        type = avroType(JSON.parse(schema) as avro.Schema);
      } catch (cause) {
        throw new TransientError('registry_unavailable', `read schema id ${id} from the registry`, cause);
      }
      this.writers.set(id, type);
      this.unknownIds.delete(id);
    }
  }

  /** The reader type of a schema in schemas/ (e.g. 'usage.rated'), parsed once. */
  readerFor(schemaName: string): avro.Type {
    let type = this.readers.get(schemaName);
    if (!type) {
      type = avroType(loadSchema(schemaName));
      this.readers.set(schemaName, type);
    }
    return type;
  }

  /**
   * Decodes one message, read as `schemaName` (a schema in schemas/) when given: a record written
   * with an older version of that schema is resolved to it, and a record of another schema is
   * refused. Every way a message can be bad throws InvalidInputError (never retried) with a code
   * the stage puts on the rejection or dead letter: `null_value`, `oversized_record`,
   * `not_confluent_avro`, `unknown_schema`, `wrong_schema`, `undecodable_avro`.
   */
  decode<T>(message: Buffer | null | undefined, schemaName?: string): T {
    if (!message) throw new InvalidInputError('null_value', 'the record has no value (a tombstone or an empty message)');
    if (message.length > MAX_RECORD_BYTES) throw new InvalidInputError('oversized_record', `the record is ${message.length} bytes, more than ${MAX_RECORD_BYTES}`);
    if (message.length < 5 || message[0] !== MAGIC_BYTE) throw new InvalidInputError('not_confluent_avro', 'the message does not start with the Confluent magic byte and schema id');
    const id = message.readInt32BE(1);
    const writer = this.writers.get(id);
    if (!writer) {
      if (this.unknownIds.has(id)) throw new InvalidInputError('unknown_schema', `the registry does not know schema id ${id} (a producer writing another registry's ids, or global ids instead of content ids?)`);
      throw new Error(`schema id ${id} not prepared: call prepare() on the batch first`);
    }
    const read = schemaName === undefined ? writer : this.readingOf(id, writer, schemaName);
    const body = message.subarray(5);
    try {
      return (read instanceof avro.Type ? read.fromBuffer(body) : read.reader.fromBuffer(body, read.resolver)) as T;
    } catch (cause) {
      throw new InvalidInputError('undecodable_avro', `the message body does not decode with schema id ${id}: ${(cause as Error).message}`);
    }
  }

  /** How records of writer `id` are read as `schemaName`: directly when the schemas are equal. */
  private readingOf(id: number, writer: avro.Type, schemaName: string): avro.Type | { reader: avro.Type; resolver: Resolver } {
    const key = `${id}:${schemaName}`;
    let reading = this.readings.get(key);
    if (!reading) {
      const reader = this.readerFor(schemaName);
      if (writer.equals(reader)) reading = reader;
      else {
        try {
          reading = { reader, resolver: reader.createResolver(writer) };
        } catch (cause) {
          throw new InvalidInputError('wrong_schema', `schema id ${id} (${writer.name ?? writer.typeName}) cannot be read as ${schemaName}: ${(cause as Error).message}`);
        }
      }
      this.readings.set(key, reading);
    }
    return reading;
  }
}
