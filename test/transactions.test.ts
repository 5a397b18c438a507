import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyFailure } from '../runtime/errors.ts';
import { createDb, inTransaction, runTogether } from '../runtime/db.ts';
import { testConfig, uniqueSuffix } from './helpers.ts';

// A COMMIT can fail after every statement of the transaction passed: the database goes away at
// that moment, or a deferred constraint is checked. knex's commit() resolves even then; these
// tests hold inTransaction to throwing, since every stage produces its records before committing
// and would otherwise carry on as if its state (charges, consumed offsets) were stored.
const config = testConfig('transactions-test');
const db = createDb(config.postgres, { poolMax: 3 });
// Counted on a pool of its own: a connection cut in a test may linger in `db`'s pool for a moment.
const reader = createDb(config.postgres, { poolMax: 1 });
const table = `tx_test_${uniqueSuffix().replace(/-/g, '_')}`;

beforeAll(async () => {
  await db.raw(`create table ${table} (id int, constraint ${table}_once unique (id) deferrable initially deferred)`);
});

afterAll(async () => {
  await db.raw(`drop table if exists ${table}`);
  await db.destroy();
  await reader.destroy();
});

const count = async (id: number) => Number(((await reader(table).where({ id }).count({ n: '*' })) as { n: string }[])[0]!.n);

describe('inTransaction when the COMMIT itself fails', () => {
  it('rejects with the violation of a constraint checked at COMMIT, and nothing is stored', async () => {
    const work = inTransaction(db, async (trx) => {
      // Both inserts pass: the unique constraint is deferred to COMMIT.
      await trx(table).insert([{ id: 1 }, { id: 1 }]);
      return 'done';
    });
    await expect(work).rejects.toMatchObject({ code: '23505' });
    expect(await count(1)).toBe(0);
  });

  // Before the cut below: that connection may linger in the pool for a moment.
  it('still commits and resolves with the work result when COMMIT succeeds', async () => {
    await expect(inTransaction(db, async (trx) => (await trx(table).insert({ id: 3 }), 'stored'))).resolves.toBe('stored');
    expect(await count(3)).toBe(1);
  });

  it('rejects, retryable, when the connection is cut just before COMMIT, and nothing is stored', async () => {
    const work = inTransaction(db, async (trx) => {
      await trx(table).insert({ id: 2 });
      const { rows } = (await trx.raw('select pg_backend_pid() as pid')) as { rows: { pid: number }[] };
      // Another connection ends this one, as a database restart would, between the work and its COMMIT.
      await db.raw('select pg_terminate_backend(?)', [rows[0]!.pid]);
      return 'done';
    });
    const error = await work.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeDefined();
    expect(classifyFailure(error).retryable).toBe(true);
    expect(await count(2)).toBe(0);
  });
});

/** The backend of the pool's one connection (asking may itself meet the last cut connection: ask again). */
async function backendPid(pool: typeof db): Promise<number> {
  for (;;) {
    try {
      const { rows } = (await pool.raw('select pg_backend_pid() as pid')) as { rows: { pid: number }[] };
      return rows[0]!.pid;
    } catch (error) {
      if (!classifyFailure(error).retryable) throw error;
    }
  }
}

describe('inTransaction on a pooled connection the database has cut', () => {
  it('never fails for good: each try either commits or fails retryably (the connection lost), never as a bug', async () => {
    const own = createDb(config.postgres, { poolMax: 1 });
    const outcomes = { committed: 0, retryable: 0, permanent: [] as string[] };
    try {
      for (let i = 0; i < 30; i++) {
        const pid = await backendPid(own);
        // The pool's one connection is idle now; cut it, then start a transaction at once: knex may
        // not have seen the cut yet and BEGIN on the dead connection.
        await reader.raw('select pg_terminate_backend(?)', [pid]);
        try {
          await inTransaction(own, async (trx) => void (await trx(table).insert({ id: 1000 + i })));
          outcomes.committed++;
        } catch (error) {
          if (classifyFailure(error).retryable) outcomes.retryable++;
          else outcomes.permanent.push(error instanceof Error ? error.message : String(error));
        }
      }
    } finally {
      await own.destroy();
    }
    console.log(`[transactions] 30 transactions right after their connection was cut: ${outcomes.committed} committed, ${outcomes.retryable} failed retryably`);
    expect(outcomes.permanent).toEqual([]);
    expect(outcomes.committed + outcomes.retryable).toBe(30);
  });
});

describe('runTogether: several writes in one statement', () => {
  const other = `${table}_other`;
  // A pool of its own: a connection cut above may linger in `db`'s.
  const pool = createDb(config.postgres, { poolMax: 2 });
  beforeAll(async () => {
    await pool.raw(`create table ${other} (id int primary key)`);
  });
  afterAll(async () => {
    await pool.raw(`drop table if exists ${other}`);
    await pool.destroy();
  });

  it('stores every write, skipping the absent ones, and fails them all when one fails', async () => {
    await inTransaction(pool, (trx) =>
      runTogether(trx, [
        { sql: `insert into ${table} (id) select unnest(?::int[])`, bindings: [[20, 21]] },
        undefined,
        { sql: `insert into ${other} (id) values (?)`, bindings: [20] },
      ]),
    );
    expect([await count(20), await count(21)]).toEqual([1, 1]);
    expect(Number(((await reader(other).count({ n: '*' })) as { n: string }[])[0]!.n)).toBe(1);
    // The second write breaks the primary key: the first, in the same statement, is not stored either.
    const failed = inTransaction(pool, (trx) =>
      runTogether(trx, [
        { sql: `insert into ${table} (id) values (?)`, bindings: [22] },
        { sql: `insert into ${other} (id) values (?)`, bindings: [20] },
      ]),
    );
    await expect(failed).rejects.toMatchObject({ code: '23505' });
    expect(await count(22)).toBe(0);
  });
});
