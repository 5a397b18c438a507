import { describe, expect, it } from 'vitest';
import { mergeProblems, pathOf, validateBody } from './validation.ts';

const paths = (problems: { path: string }[]) => problems.map((p) => p.path).sort();

describe('request validation', () => {
  it('lists every problem of a plan at once, with domain-style paths', () => {
    const problems = validateBody('PlanInput', {
      owner: 'ansr-us',
      name: '',
      currency: 'usd',
      monthlyFee: 19.99,
      grants: [{ bucketId: 'b' }],
      priceModels: [{ usageType: 'LCA', kind: 'FLAT', unitSeconds: 0, tiers: [{ unitPrice: '0.5', upTo: -1 }] }],
      colour: 'red',
    });
    expect(paths(problems)).toEqual(
      [
        'colour',
        'currency',
        'grants[0].priority',
        'grants[0].seconds',
        'grants[0].usageType',
        'monthlyFee',
        'name',
        'priceModels[0].kind',
        'priceModels[0].tiers[0].upTo',
        'priceModels[0].unitSeconds',
      ].sort(),
    );
    expect(problems.find((p) => p.path === 'colour')!.message).toBe('is not a known field');
    expect(problems.find((p) => p.path === 'currency')!.message).toBe('must be an ISO 4217 code such as USD, got "usd"');
    expect(problems.find((p) => p.path === 'name')!.message).toBe('must not be empty');
  });

  it('refuses money and percentages as JSON numbers, saying why', () => {
    const problems = validateBody('BrandInput', {
      name: 'B', country: 'US', currency: 'USD', timeZone: 'UTC', billingHour: 1, taxRegime: 'x', gateway: 'stripe', roundingMode: 'half_up',
      commission: { initialPercent: 20, initialPeriods: 12, recurringPercent: '5' },
    });
    expect(problems).toEqual([{ path: 'commission.initialPercent', message: 'must be a decimal string such as "20", got the JSON number 20: money is never a float' }]);
  });

  it('names a missing nested field by its full path, and reports a nullable field once', () => {
    const problems = validateBody('CustomerInput', { brand: 'b', name: 'n', email: 'not-mail', country: 'US', postalAddress: { line1: 'x' }, region: 5 });
    expect(paths(problems)).toEqual(['email', 'postalAddress.city', 'postalAddress.country', 'postalAddress.postalCode', 'region']);
    expect(problems.filter((p) => p.path === 'region')).toHaveLength(1);
  });

  it('takes instants only with an offset', () => {
    expect(validateBody('TransitionRequest', { action: 'cancel', reason: 'r', effectiveAt: '2026-01-01T00:00:00' })).toEqual([
      { path: 'effectiveAt', message: 'must be an ISO 8601 instant with an offset (e.g. 2026-01-01T00:00:00Z), got "2026-01-01T00:00:00"' },
    ]);
    expect(validateBody('TransitionRequest', { action: 'cancel', reason: 'r', effectiveAt: '2026-01-01T00:00:00-05:00' })).toEqual([]);
  });

  it('converts JSON pointers to paths', () => {
    expect(pathOf('')).toBe('');
    expect(pathOf('/priceModels/0/tiers/12/unitPrice')).toBe('priceModels[0].tiers[12].unitPrice');
    expect(pathOf('/usageProducts/a~1b')).toBe('usageProducts.a/b');
  });

  it('adds domain problems only where the schema found none', () => {
    const shape = [{ path: 'currency', message: 'is required' }];
    const domain = [
      { path: 'currency', message: 'must be a non-empty string' },
      { path: 'timeZone', message: '"Mars/Olympus" is not an IANA time zone' },
    ];
    expect(mergeProblems(shape, domain)).toEqual([shape[0], domain[1]]);
  });
});
