import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseReferenceFile } from '../domain/reference/index.ts';
import { usInvoice } from './fixtures.ts';
import { brandingFromReference, customerBlockFromReference, priceModelsOf, reviveInvoice } from './from-reference.ts';
import { validateInvoiceDocument } from './validate.ts';

const sample = parseReferenceFile(JSON.parse(readFileSync(new URL('../domain/reference/fixtures/sample-reference.json', import.meta.url), 'utf8')));

describe('documents from reference records', () => {
  it('revives a stored invoice exactly (Decimals and Dates)', () => {
    const { invoice } = usInvoice();
    const revived = reviveInvoice(JSON.stringify(invoice));
    expect(JSON.stringify(revived)).toBe(JSON.stringify(invoice));
    expect(revived.issuedAt).toBeInstanceOf(Date);
    expect(revived.lines[0]!.amount.plus(0).toFixed(2)).toBe(invoice.lines[0]!.amount.toFixed(2));
    expect(revived.taxes[0]!.rate.equals(invoice.taxes[0]!.rate)).toBe(true);
    expect(revived.usagePeriod!.start.getTime()).toBe(invoice.usagePeriod!.start.getTime());
  });

  it('renders with the brand branding and the customer of the catalogue, or a plain fallback', () => {
    if (!sample.ok) throw new Error(JSON.stringify(sample.error));
    const invoice = { ...usInvoice().invoice, brand: 'ansr-us', accountId: 'acct-us-1001' };
    const us = sample.value.brands.find((b) => b.code === 'ansr-us')!;
    const branding = brandingFromReference(us);
    expect(branding).toMatchObject({ displayName: 'AnswerLine', primaryColour: '#0b5394', timeZone: 'America/New_York', emailFrom: { address: 'billing@answerline.example' } });
    const customer = customerBlockFromReference(sample.value.customers.find((c) => c.accountId === 'acct-us-1001')!);
    expect(customer.billingAddress.city).toBe('New York');
    const plan = sample.value.plans.find((p) => p.owner === 'ansr-us')!;
    expect(Object.keys(priceModelsOf(plan))).toEqual(plan.priceModels.map((m) => m.usageType));
    expect(() => validateInvoiceDocument({ invoice, branding, customer })).not.toThrow();
    const plain = brandingFromReference({ ...us, branding: null });
    expect(plain).toMatchObject({ displayName: us.name, legalName: us.name, locale: 'en-US' });
    expect(() => validateInvoiceDocument({ invoice, branding: plain, customer })).not.toThrow();
  });
});
