export type * from './types.ts';
export { GatewayRegistry, envSuffix } from './registry.ts';
export type { BrandGatewayConfig } from './registry.ts';
export { validateMethodMeta } from './methods.ts';
export type { MetaValidation } from './methods.ts';
export { containsCardNumber, isCardFieldName } from '../domain/card-data.ts';
export { transportOutcome } from './transport.ts';
export { StripeGateway, stripeGatewayFactory, validateStripeOptions } from './stripe/stripe-gateway.ts';
export type { StripeOptions } from './stripe/stripe-gateway.ts';
export { PayPalGateway, paypalGatewayFactory, validatePayPalOptions } from './paypal/paypal-gateway.ts';
export type { PayPalOptions } from './paypal/paypal-gateway.ts';
export { ManualGateway, manualGatewayFactory } from './manual/manual-gateway.ts';
export type { ManualPaymentRecord } from './manual/manual-gateway.ts';

import { GatewayRegistry } from './registry.ts';
import { manualGatewayFactory } from './manual/manual-gateway.ts';
import { paypalGatewayFactory } from './paypal/paypal-gateway.ts';
import { stripeGatewayFactory } from './stripe/stripe-gateway.ts';

/** The registry with every built-in gateway: `stripe`, `paypal`, `manual`. */
export function defaultGatewayRegistry(): GatewayRegistry {
  return new GatewayRegistry().register(stripeGatewayFactory).register(paypalGatewayFactory).register(manualGatewayFactory);
}
