import { defaultGatewayRegistry } from '../../gateways/index.ts';
import type { GatewayRegistry } from '../../gateways/registry.ts';
import type { PaymentGateway } from '../../gateways/types.ts';
import type { Brand } from '../../domain/reference/index.ts';

/**
 * Each brand's gateway as collect builds it (RATELINE_GATEWAY_<BRAND> or the brand's own choice,
 * credentials from the environment), for listing its charges. Missing credentials throw a
 * ConfigError, which the run turns into a note.
 */
export function gatewaysFromEnv(env: Readonly<Record<string, string | undefined>> = process.env, registry: GatewayRegistry = defaultGatewayRegistry()): (brand: Brand) => PaymentGateway {
  const built = new Map<string, PaymentGateway>();
  return (brand) => {
    let gateway = built.get(brand.code);
    if (!gateway) built.set(brand.code, (gateway = registry.createForBrand(brand.code, brand.gateway, env, { now: Date.now })));
    return gateway;
  };
}
