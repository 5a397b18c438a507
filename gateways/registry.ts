import { ConfigError, RatelineError } from '../runtime/errors.ts';
import type { GatewayDeps, GatewayFactory, PaymentGateway } from './types.ts';

/** A brand's gateway choice: the registry id and that plugin's options. */
export interface BrandGatewayConfig {
  readonly gateway: string;
  readonly options: unknown;
}

/**
 * Gateways by id. The collect service asks for a brand's gateway and never switches on its
 * name; a new gateway (Braintree, Payflow) is one more `register` call.
 */
export class GatewayRegistry {
  readonly #factories = new Map<string, GatewayFactory<any>>();

  register<O>(factory: GatewayFactory<O>): this {
    if (this.#factories.has(factory.id)) throw new RatelineError('duplicate_gateway', `gateway "${factory.id}" is already registered`);
    this.#factories.set(factory.id, factory);
    return this;
  }

  ids(): string[] {
    return [...this.#factories.keys()].sort();
  }

  factory(id: string): GatewayFactory<unknown> {
    const f = this.#factories.get(id);
    if (!f) throw new ConfigError([`unknown gateway "${id}": registered are ${this.ids().join(', ')}`]);
    return f;
  }

  /** Builds a brand's gateway, refusing invalid options with every problem at once. */
  create(brandCode: string, config: BrandGatewayConfig, deps: GatewayDeps): PaymentGateway {
    const factory = this.factory(config.gateway);
    const problems = factory.validateOptions(config.options);
    if (problems.length > 0) throw new ConfigError(problems.map((p) => `brand ${brandCode}, gateway ${config.gateway}: ${p}`));
    return factory.create(config.options, deps);
  }

  /**
   * A brand's gateway: RATELINE_GATEWAY_<BRAND> if set, else the id the brand's configuration
   * names (ref.brands), with that plugin's options from the environment.
   */
  createForBrand(brandCode: string, configuredId: string, env: Readonly<Record<string, string | undefined>>, deps: GatewayDeps): PaymentGateway {
    const id = env[`RATELINE_GATEWAY_${envSuffix(brandCode)}`] || configuredId;
    return this.create(brandCode, { gateway: id, options: this.factory(id).optionsFromEnv(brandCode, env) }, deps);
  }

  /**
   * A brand's gateway from the environment: RATELINE_GATEWAY_<BRAND> names the id, the
   * plugin reads its own variables (see each plugin's optionsFromEnv).
   */
  createFromEnv(brandCode: string, env: Readonly<Record<string, string | undefined>>, deps: GatewayDeps): PaymentGateway {
    const variable = `RATELINE_GATEWAY_${envSuffix(brandCode)}`;
    const id = env[variable];
    if (!id) throw new ConfigError([`${variable} is not set: name the brand's gateway (${this.ids().join(', ')})`]);
    const factory = this.factory(id);
    return this.create(brandCode, { gateway: id, options: factory.optionsFromEnv(brandCode, env) }, deps);
  }
}

/** Brand code → environment variable suffix: `acme-uk` → `ACME_UK`. */
export function envSuffix(brandCode: string): string {
  return brandCode.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}
