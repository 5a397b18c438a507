import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../runtime/log.ts';
import { defaultAdminKeyFile, saveFirstKey } from './index.ts';

describe("the catalogue's first parent key", () => {
  it('goes to a file only its owner can read, and the log says where, never the key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rateline-key-'));
    const file = path.join(dir, 'home', 'catalog-admin-key');
    // A file left with wider modes is narrowed.
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, 'old', { mode: 0o644 });
    const lines: string[] = [];
    const key = 'rlk_abc123_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
    saveFirstKey({ keyId: 'abc123', key }, file, createLogger({ service: 'catalog' }, 'info', (line) => lines.push(line)));
    expect(fs.readFileSync(file, 'utf8')).toBe(`${key}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ keyId: 'abc123', file });
    expect(lines.join('\n')).not.toContain(key);
    expect(lines.join('\n')).not.toContain('Zm9vYmFyYmF6');
    fs.rmSync(dir, { recursive: true });
  });

  it('is written under CATALOG_ADMIN_KEY_FILE, else the local home', () => {
    expect(defaultAdminKeyFile({ CATALOG_ADMIN_KEY_FILE: '/run/secrets/k' })).toBe('/run/secrets/k');
    expect(defaultAdminKeyFile({ RATELINE_HOME: '/srv/rl' })).toBe('/srv/rl/catalog-admin-key');
  });
});
