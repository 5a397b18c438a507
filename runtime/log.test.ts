import { describe, expect, it } from 'vitest';
import kafkajs from 'kafkajs';
import { createLogger } from './log.ts';
import { levelOfKafkaEntry } from './kafka.ts';

const lines = () => {
  const out: Record<string, unknown>[] = [];
  return { out, logger: createLogger({ service: 't' }, 'debug', (line) => out.push(JSON.parse(line) as Record<string, unknown>)) };
};

describe('logs', () => {
  it('keep an error stack and its whole cause chain', () => {
    const { out, logger } = lines();
    const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    logger.error('batch failed', { error: new Error('store batch', { cause: root }) });
    const error = out[0]!.error as { message: string; stack: string; cause: { code: string; message: string; stack: string } };
    expect(error.message).toBe('store batch');
    expect(error.stack).toMatch(/^Error: store batch\n\s+at /);
    expect(error.cause).toMatchObject({ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' });
    expect(error.cause.stack).toMatch(/log\.test\.ts/);
  });

  it('write one JSON object a line: level by name, ISO time, the base and child fields, the message', () => {
    const { out, logger } = lines();
    logger.child({ stage: 'rate', secret: 's3' }).info('batch stored', { records: 3 });
    logger.debug('detail');
    expect(out).toHaveLength(2);
    expect(out[0]).toEqual({ level: 'info', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), service: 't', stage: 'rate', secret: '[redacted]', records: 3, msg: 'batch stored' });
    expect(out[1]).toMatchObject({ level: 'debug', msg: 'detail' });
    const quiet: string[] = [];
    createLogger({}, 'warn', (line) => quiet.push(line)).info('not at warn');
    expect(quiet).toEqual([]);
  });

  it('never print a password, in a field or inside a URL', () => {
    const { out, logger } = lines();
    logger.warn('connecting', { password: 'hunter2', url: 'postgres://postgres:hunter2@127.0.0.1:15432/rateline', error: new Error('failed for postgres://u:hunter2@db/x') });
    const text = JSON.stringify(out);
    expect(text).not.toContain('hunter2');
    expect(out[0]).toMatchObject({ password: '[redacted]', url: 'postgres://postgres:***@127.0.0.1:15432/rateline' });
  });

  it.each([
    [kafkajs.logLevel.ERROR, 'error'],
    [kafkajs.logLevel.WARN, 'warn'],
    [kafkajs.logLevel.INFO, 'debug'],
    [kafkajs.logLevel.DEBUG, 'debug'],
  ])("show the Kafka client's level %s as %s", (level, ours) => {
    expect(levelOfKafkaEntry(level)).toBe(ours);
  });
});
