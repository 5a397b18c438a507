// Screenshots of the console's main screens on the demo data, for docs/console/ and the README:
//   npm start            (once, on this stack: the demo data; Ctrl-C when it prints the console)
//   npx tsx cli/console-screenshots.ts [docs/console]
// It starts the console as npm start does, drives Debian's chromium through playwright-core at
// 1280x800 (a laptop screen) as the parent company's key, and writes one PNG a screen.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { stackHome } from '../infra/stack/index.ts';
import { cliConfig } from './context.ts';
import { startConsoleDemo } from './console-demo.ts';
import sharp from 'sharp';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((p) => p && existsSync(p));

/** The latest demo run on this stack: the newest folder of invoice PDFs npm start wrote. */
function latestDemoRun(): string {
  const folder = join(stackHome(), 'invoices');
  const runs = existsSync(folder) ? readdirSync(folder).filter((r) => /^\d+$/.test(r)).sort() : [];
  if (runs.length === 0) throw new Error(`no demo run under ${folder}: run npm start once on this stack first`);
  return runs.at(-1)!;
}

async function main(): Promise<void> {
  if (!CHROMIUM) throw new Error('no chromium at /usr/bin/chromium (or CHROMIUM_PATH): apt-get install -y chromium');
  const out = process.argv[2] ?? 'docs/console';
  mkdirSync(out, { recursive: true });
  const run = latestDemoRun();
  const account = `acct-us-1001-${run}`;
  const demo = await startConsoleDemo(cliConfig('console-screenshots'), () => undefined);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const base = demo.url.replace(/\/$/, '');
    await page.goto(`${base}/sign-in`);
    await page.getByLabel('API key').fill(demo.parentKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/`);
    const shot = async (name: string, at?: string) => {
      if (at) await page.goto(`${base}${at}`);
      const file = join(out, `${name}.png`);
      // A 256-colour palette (libimagequant through sharp): a third of the browser's truecolour file.
      const png = await sharp(await page.screenshot()).png({ palette: true, colours: 256, compressionLevel: 9 }).toBuffer();
      writeFileSync(file, png);
      process.stdout.write(`${file} (${Math.round(png.length / 1024)} KB): ${page.url()}\n`);
    };
    await shot('customers-search', '/customers?q=%2B1%20800%20555%200100');
    await shot('account', `/accounts/${encodeURIComponent(account)}`);
    await page.goto(`${base}/invoices?accountId=${encodeURIComponent(account)}`);
    await page.locator('a[href^="/invoices/"]').first().click();
    await page.waitForURL(/\/invoices\/[^?]+$/);
    await shot('invoice');
    await shot('usage', `/usage?accountId=${encodeURIComponent(account)}&from=2026-03-01&to=2026-03-31`);
    await shot('rejections', '/rejections');
    await shot('catalogue', '/catalog');
    await shot('catalogue-plan', '/catalog/plans/ansr-us-pro');
    await rerateDryRun(page, base, account);
    await shot('rerating');
    // Last: by now collect has read the demo's invoices from their topics.
    await shot('today', '/');
  } finally {
    await browser.close();
    await demo.stop();
  }
}

/** A dry run of the account's March periods: differences shown, nothing committed. */
async function rerateDryRun(page: Page, base: string, account: string): Promise<void> {
  await page.goto(`${base}/rerate`);
  const form = page.getByRole('form', { name: 'Re-rate' });
  await form.getByLabel('Re-rate').selectOption('account');
  await form.getByLabel('Brand code, account id or subscription id').fill(account);
  await form.getByLabel('Periods overlapping from (first day)').fill('2026-03-01');
  await form.getByLabel('to (last day)').fill('2026-03-31');
  await form.getByRole('button', { name: 'Dry run' }).click();
  await page.locator('[data-test="rerate-outcome"], [role="alert"]').first().waitFor({ timeout: 120_000 });
  const refused = await page.getByRole('alert').allTextContents();
  if (refused.length > 0) throw new Error(`the re-rate dry run was refused: ${refused.join('; ')}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
