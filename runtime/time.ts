export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The clock services read; tests and simulations inject a controllable one. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
