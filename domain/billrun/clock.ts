/**
 * A clock whose time moves only when told: for tests and for simulating months of bill
 * runs in seconds. `now()` is epoch milliseconds, so it satisfies runtime/time.ts `Clock`.
 */
export class ControllableClock {
  #now: number;

  constructor(start: Date | number) {
    this.#now = ControllableClock.#check(typeof start === 'number' ? start : start.getTime());
  }

  static #check(ms: number): number {
    if (!Number.isFinite(ms)) throw new RangeError(`not an instant: ${ms}`);
    return ms;
  }

  now(): number {
    return this.#now;
  }

  /** The same instant as a Date. */
  date(): Date {
    return new Date(this.#now);
  }

  set(instant: Date | number): void {
    this.#now = ControllableClock.#check(typeof instant === 'number' ? instant : instant.getTime());
  }

  /** Moves forward (never back: time that runs backwards would re-open billed days). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advance by ${ms} ms: must be finite and ≥ 0`);
    this.#now += ms;
  }
}
