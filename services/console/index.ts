import { randomBytes } from 'node:crypto';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import client from 'prom-client';
import { ReferenceTables } from '../../domain/reference/index.ts';
import { allReferenceTopics, applyReferenceRecords } from '../../contracts/reference.ts';
import { KeyTable } from '../../runtime/auth.ts';
import { apiKeyRecord } from '../../runtime/stage.ts';
import { readCompactedTopics, type CompactedReader } from '../../runtime/compacted.ts';
import type { RuntimeConfig } from '../../runtime/config.ts';
import { startOpsServer } from '../../runtime/http.ts';
import type { RunningService, ServiceDeps } from '../../runtime/service.ts';
import { applyTopics } from '../../topics/apply.ts';
import { topics } from '../../topics/catalog.ts';
import { consoleSettings, type ConsoleSettings, type ServiceUrls } from './config.ts';
import { pipelineLag, TroubleFeed } from './feeds.ts';
import { html, type Html } from './html.ts';
import { errorBox, page } from './layout.ts';
import { ServiceClient } from './services.ts';
import { SessionStore, type Session } from './sessions.ts';
import type { PageContext } from './pages/context.ts';
import { todayPage } from './pages/today.ts';
import { accountPage, customersPage } from './pages/customers.ts';
import { actionTitles, auditPage, confirmPage, invoicePage, invoicesPage, performAction, type InvoiceAction } from './pages/invoices.ts';
import { usagePage } from './pages/usage.ts';
import { reratePage, runRerate } from './pages/rerate.ts';
import { chartsPage } from './pages/charts.ts';
import { brandPage, catalogPage, planPage, rulePage, saveBrand, savePlan, saveRule } from './pages/catalog.ts';
import { confirmRedrivePage, performRedrive, redriveTarget, rejectionsPage } from './pages/rejections.ts';

const COOKIE = 'rateline_console';

export interface ConsoleOptions {
  /** The services' API addresses; default: `<NAME>_API_URL` from the environment. */
  services?: ServiceUrls;
  settings?: Partial<ConsoleSettings>;
  parentCompany?: string;
}

/**
 * The billing operations console: server-rendered pages over the other services' APIs, called
 * with the signed-in person's own API key (so each service applies its brand scope), plus what
 * the console reads from topics itself: the ref.* reference data (search, account pages), the
 * keys on ref.api-keys (sign-in), cdr.rejected and ops.dead-letter (Today, Rejections), group lag.
 * It owns no tables and reads none.
 */
export async function startConsole(config: RuntimeConfig, deps: ServiceDeps, options: ConsoleOptions = {}): Promise<RunningService> {
  const fromEnv = consoleSettings(process.env);
  const settings: ConsoleSettings = { ...fromEnv, ...options.settings, services: { ...fromEnv.services, ...options.services } };
  const logger = deps.logger.child({ service: 'console' });
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const pages = new client.Counter({ name: 'rateline_console_pages_total', help: 'Console pages served by route and status', labelNames: ['route', 'status'], registers: [registry] });

  const tables = new ReferenceTables(options.parentCompany ?? process.env.RATELINE_PARENT_COMPANY ?? 'ansr-group');
  const keys = new KeyTable();
  const wanted = [...allReferenceTopics, topics.refApiKeys.name];
  await applyTopics(deps.kafka, deps.serde, Object.values(topics).filter((t) => wanted.includes(t.name) || t.name === topics.cdrRejected.name || t.name === topics.deadLetter.name));
  const reference: CompactedReader = await readCompactedTopics(
    deps.kafka,
    deps.serde,
    wanted,
    (records) => {
      const others = records.filter((r) => r.topic !== topics.refApiKeys.name);
      for (const r of records) if (r.topic === topics.refApiKeys.name) keys.apply(r.key, apiKeyRecord(r.value));
      if (others.length > 0) applyReferenceRecords(tables, others, logger);
    },
    logger,
  );
  await reference.ready;
  const feed = new TroubleFeed(deps.kafka, deps.serde, logger);
  await feed.start(deps.clock.now() - 2 * 86_400_000);
  let lagCache: { at: number; value: Promise<Awaited<ReturnType<typeof pipelineLag>>> } | undefined;
  const lag = () => {
    const now = Date.now();
    if (!lagCache || now - lagCache.at > 10_000) lagCache = { at: now, value: pipelineLag(deps.kafka) };
    return lagCache.value;
  };

  const sessions = new SessionStore(settings.sessionIdleMs);
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024 });
  await app.register(cookie, { secret: settings.cookieSecret ?? randomBytes(32).toString('hex') });
  await app.register(formbody);

  const sessionOf = (request: FastifyRequest): Session | undefined => {
    const raw = request.cookies[COOKIE];
    if (!raw) return undefined;
    const unsigned = request.unsignCookie(raw);
    return unsigned.valid ? sessions.get(unsigned.value ?? undefined, Date.now()) : undefined;
  };
  const sendPage = (reply: FastifyReply, status: number, title: string, session: Session | undefined, body: Html) =>
    reply.code(status).type('text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'").send(page(title, session, body).text);
  const signInForm = (message?: string) => html`${errorBox(message)}<form method="post" action="/sign-in"><label for="key">API key</label><input id="key" name="key" type="password" autocomplete="off" required size="60" autofocus><p class="muted">The catalogue's key for a brand (its clerk sees that brand only) or the parent company's key (every brand).</p><button type="submit">Sign in</button></form>`;

  /** A signed-in screen: no session, back to sign-in; a key revoked or expired since, signed out. */
  const guarded = (handler: (ctx: PageContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>) => async (request: FastifyRequest, reply: FastifyReply) => {
    const session = sessionOf(request);
    const still = session ? keys.verify(session.key, deps.clock.now()) : undefined;
    if (!session || !still?.ok) {
      if (session) sessions.end(session.id);
      return reply.redirect(`/sign-in?next=${encodeURIComponent(request.url)}`, 303);
    }
    if (request.method === 'POST' && (request.body as { formToken?: string } | undefined)?.formToken !== session.formToken) {
      return sendPage(reply, 403, 'Form expired', session, html`<p>This form was not sent from this session. Go back, reload and try again.</p>`);
    }
    const ctx: PageContext = { session, client: new ServiceClient(settings.services, session.key), tables, feed, now: deps.clock.now(), lag };
    return handler(ctx, request, reply);
  };

  app.addHook('onResponse', async (request, reply) => void pages.inc({ route: request.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }));
  app.setErrorHandler((error, request, reply) => {
    logger.error('console page failed', { route: request.routeOptions.url, error });
    return sendPage(reply, 500, 'Something went wrong', sessionOf(request), html`<p>The page could not be made: ${(error as Error).message}</p>`);
  });
  app.setNotFoundHandler((request, reply) => sendPage(reply, 404, 'Not found', sessionOf(request), html`<p>There is no page at ${request.url}.</p>`));

  app.get('/sign-in', async (request, reply) => sendPage(reply, 200, 'Sign in', undefined, signInForm()));
  app.post<{ Body: { key?: string }; Querystring: { next?: string } }>('/sign-in', async (request, reply) => {
    const key = (request.body?.key ?? '').trim();
    const verified = key === '' ? { ok: false as const, reason: 'unknown' as const } : keys.verify(key, deps.clock.now());
    if (!verified.ok) return sendPage(reply, 401, 'Sign in', undefined, signInForm(verified.reason === 'unknown' ? 'That key is not known (a key made moments ago may take a second to arrive).' : `That key is ${verified.reason}.`));
    const session = sessions.create(key, verified.principal, Date.now());
    logger.info('signed in', { keyId: verified.principal.keyId, brand: verified.principal.kind === 'brand' ? verified.principal.brand : null });
    void reply.setCookie(COOKIE, session.id, { signed: true, httpOnly: true, sameSite: 'strict', secure: settings.secureCookie, path: '/' });
    const next = request.query.next && /^\/[^/\\]/.test(request.query.next) ? request.query.next : '/';
    return reply.redirect(next, 303);
  });
  app.post('/sign-out', async (request, reply) => {
    const session = sessionOf(request);
    if (session) sessions.end(session.id);
    void reply.clearCookie(COOKIE, { path: '/' });
    return reply.redirect('/sign-in', 303);
  });

  app.get<{ Querystring: { page?: string; q?: string } }>('/', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Today', ctx.session, await todayPage(ctx, request.query as { page?: string; q?: string }))));
  app.get('/customers', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Customers', ctx.session, await customersPage(ctx, request.query as Record<string, string>))));
  app.get<{ Params: { accountId: string } }>('/accounts/:accountId', guarded(async (ctx, request, reply) => {
    const out = await accountPage(ctx, (request.params as { accountId: string }).accountId);
    return out ? sendPage(reply, 200, out.title, ctx.session, out.body) : sendPage(reply, 404, 'Account not found', ctx.session, html`<p>No such account, or another brand's.</p>`);
  }));
  app.get('/invoices', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Invoices', ctx.session, await invoicesPage(ctx, request.query as Record<string, string>))));
  app.get('/invoices/:invoiceId', guarded(async (ctx, request, reply) => {
    const { invoiceId } = request.params as { invoiceId: string };
    const notice = (request.query as { done?: string }).done;
    const out = await invoicePage(ctx, invoiceId, {}, notice ? `${actionTitles[notice as InvoiceAction] ?? notice}: done.` : undefined);
    return out ? sendPage(reply, 200, out.title, ctx.session, out.body) : sendPage(reply, 404, 'Invoice not found', ctx.session, html`<p>No such invoice, or another brand's.</p>`);
  }));
  // The documents as bill-run renders them for the customer, passed through with the signed-in key.
  app.get('/invoices/:invoiceId/document.:format', guarded(async (ctx, request, reply) => {
    const { invoiceId, format } = request.params as { invoiceId: string; format: string };
    if (format !== 'html' && format !== 'pdf') return sendPage(reply, 404, 'Not found', ctx.session, html`<p>Documents are .html or .pdf.</p>`);
    try {
      const doc = await ctx.client.document('billrun', `/invoices/${encodeURIComponent(invoiceId)}.${format}`);
      return reply.type(doc.type).header('content-disposition', `inline; filename="${invoiceId.replace(/[^A-Za-z0-9._-]/g, '_')}.${format}"`).send(doc.body);
    } catch (err) {
      return sendPage(reply, (err as { status?: number }).status === 404 ? 404 : 502, 'Document not available', ctx.session, errorBox((err as Error).message));
    }
  }));
  for (const action of ['credit-note', 'refund', 'manual-payment'] as const) {
    app.post(`/invoices/:invoiceId/${action}`, guarded(async (ctx, request, reply) => {
      const { invoiceId } = request.params as { invoiceId: string };
      const { formToken: _t, confirm, ...values } = request.body as Record<string, string>;
      if (confirm !== 'yes') return sendPage(reply, 200, `Confirm: ${actionTitles[action]}`, ctx.session, confirmPage(ctx, invoiceId, action, values));
      const result = await performAction(ctx, invoiceId, action, values);
      if (result.ok) return reply.redirect(`/invoices/${encodeURIComponent(invoiceId)}?done=${action}`, 303);
      const out = await invoicePage(ctx, invoiceId, { [action]: { values, problems: result.problems, message: result.message } });
      return out ? sendPage(reply, 422, out.title, ctx.session, out.body) : sendPage(reply, 404, 'Invoice not found', ctx.session, errorBox(result.message));
    }));
  }
  app.get('/catalog', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Catalogue', ctx.session, await catalogPage(ctx, request.query as Record<string, string>))));
  app.get('/catalog/brands/:code', guarded(async (ctx, request, reply) => {
    const { code } = request.params as { code: string };
    const out = await brandPage(ctx, code, (request.query as { done?: string }).done ? { values: {}, problems: [], notice: 'Settings saved by the catalogue.' } : undefined);
    return out ? sendPage(reply, 200, out.title, ctx.session, out.body) : sendPage(reply, 404, 'Brand not found', ctx.session, html`<p>No such brand, or another brand's.</p>`);
  }));
  app.post('/catalog/brands/:code', guarded(async (ctx, request, reply) => {
    const { code } = request.params as { code: string };
    const { formToken: _t, ...values } = request.body as Record<string, string>;
    const result = await saveBrand(ctx, code, values);
    if (result.ok) return reply.redirect(`/catalog/brands/${encodeURIComponent(code)}?done=1`, 303);
    const out = await brandPage(ctx, code, { values, problems: result.problems, message: result.message });
    return out ? sendPage(reply, 422, out.title, ctx.session, out.body) : sendPage(reply, 404, 'Brand not found', ctx.session, errorBox(result.message));
  }));
  // A plan's or rule's page, with the form that makes its next version; a saved one comes back with `?saved=<version>`.
  for (const [kind, what, show, save] of [['plans', 'Plan', planPage, savePlan], ['rating-rules', 'Rating rule', rulePage, saveRule]] as const) {
    const notFound = (ctx: PageContext, reply: FastifyReply) => sendPage(reply, 404, `${what} not found`, ctx.session, html`<p>No such ${what.toLowerCase()}, or another brand's.</p>`);
    app.get(`/catalog/${kind}/:id`, guarded(async (ctx, request, reply) => {
      const saved = (request.query as { saved?: string }).saved;
      const out = await show(ctx, (request.params as { id: string }).id, saved ? { values: {}, problems: [], notice: `Saved by the catalogue as version ${saved}.` } : undefined);
      return out ? sendPage(reply, 200, out.title, ctx.session, out.body) : notFound(ctx, reply);
    }));
    app.post(`/catalog/${kind}/:id`, guarded(async (ctx, request, reply) => {
      const { id } = request.params as { id: string };
      const { formToken: _t, ...values } = request.body as Record<string, string>;
      const result = await save(ctx, id, values);
      if (result.ok) return reply.redirect(`/catalog/${kind}/${encodeURIComponent(id)}?saved=${result.version}`, 303);
      const out = await show(ctx, id, { values, problems: result.problems, message: result.message });
      return out ? sendPage(reply, 422, out.title, ctx.session, out.body) : notFound(ctx, reply);
    }));
  }
  app.get('/charts', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Charts', ctx.session, await chartsPage(ctx, request.query as Record<string, string>))));
  app.get('/rerate', guarded(async (ctx, _request, reply) => sendPage(reply, 200, 'Re-rating', ctx.session, reratePage(ctx))));
  app.post('/rerate', guarded(async (ctx, request, reply) => {
    const { scope, id, from, to, apply } = request.body as Record<string, string>;
    const out = await runRerate(ctx, { scope, id, from, to }, apply === 'yes');
    return sendPage(reply, out.status, 'Re-rating', ctx.session, out.body);
  }));
  app.get('/usage', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Usage', ctx.session, await usagePage(ctx, request.query as Record<string, string>))));
  app.get('/rejections', guarded(async (ctx, request, reply) => sendPage(reply, 200, 'Rejections and dead letters', ctx.session, rejectionsPage(ctx, request.query as Record<string, string>))));
  app.post('/rejections/redrive', guarded(async (ctx, request, reply) => {
    const { record = '', confirm } = request.body as Record<string, string>;
    if (!redriveTarget(record)) return sendPage(reply, 400, 'Redrive', ctx.session, errorBox(`${record} is not a rejected record or a dead letter`));
    if (confirm !== 'yes') return sendPage(reply, 200, 'Confirm: redrive', ctx.session, confirmRedrivePage(ctx, record));
    const result = await performRedrive(ctx, record);
    return sendPage(reply, result.ok ? 200 : 422, 'Rejections and dead letters', ctx.session, html`${result.ok ? '' : errorBox(result.message)}${rejectionsPage(ctx, {}, result.ok ? result.message : undefined)}`);
  }));
  app.get('/audit', guarded(async (ctx, _request, reply) => sendPage(reply, 200, 'Audit trail', ctx.session, await auditPage(ctx))));
  await app.ready();

  const ops = await startOpsServer(config.http, registry, { reference: () => ({ ok: reference.isCaughtUp() }) });
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    await ops.close();
    await feed.stop();
    await reference.stop();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new Error(`port ${config.http.port} is taken: set HTTP_PORT to another port`, { cause: err });
    throw err;
  }
  const address = app.server.address();
  const apiUrl = `http://${config.http.host}:${typeof address === 'object' && address ? address.port : config.http.port}`;
  const missing = (['catalog', 'billrun', 'collect', 'ageing', 'drawdown'] as const).filter((s) => !settings.services[s]);
  if (missing.length > 0) logger.warn('console started without some services; their figures say so', { missing: missing.map((s) => `${s.toUpperCase()}_API_URL`) });
  return {
    name: 'console',
    url: ops.url,
    apiUrl,
    stop: async () => {
      await app.close();
      await ops.close();
      await feed.stop();
      await reference.stop();
    },
  };
}
