import { TaxError } from './types.ts';
import type { TaxEngine } from './types.ts';

/**
 * Tax engines by id. A brand's configuration names the id (`builtin`, or an external
 * engine's); the bill run looks it up here and never switches on it.
 */
export class TaxEngineRegistry<E extends TaxEngine = TaxEngine> {
  private readonly engines = new Map<string, E>();

  constructor(engines: readonly E[] = []) {
    for (const engine of engines) this.register(engine);
  }

  register(engine: E): this {
    if (this.engines.has(engine.id)) {
      throw new TaxError('duplicate_tax_engine', `a tax engine "${engine.id}" is already registered`);
    }
    this.engines.set(engine.id, engine);
    return this;
  }

  get(id: string): E {
    const engine = this.engines.get(id);
    if (engine === undefined) {
      throw new TaxError('unknown_tax_engine', `no tax engine "${id}" (registered: ${[...this.engines.keys()].join(', ') || 'none'})`);
    }
    return engine;
  }

  ids(): string[] {
    return [...this.engines.keys()];
  }
}
