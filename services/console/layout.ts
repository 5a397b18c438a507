import { html, Html } from './html.ts';
import type { Session } from './sessions.ts';

const css = `
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430;background:#f6f7f9}
header{display:flex;gap:1.5rem;align-items:center;padding:.6rem 1.2rem;background:#1d2a44;color:#fff}
header a{color:#fff}header nav{display:flex;gap:1rem;flex:1}header form{margin:0}
main{max-width:1280px;margin:0 auto;padding:1rem 1.2rem}
a{color:#0b5cad}a:focus,button:focus,input:focus,select:focus{outline:3px solid #f0b400;outline-offset:1px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.5rem 0 1rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e2e5ea;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.action{background:#fde8e8;color:#9b1c1c;font-weight:600}.ok{color:#1e6b2f}.muted{color:#5d6675}
.error{background:#fde8e8;border-left:4px solid #c81e1e;padding:.5rem .8rem;margin:.5rem 0}.notice{background:#e6f4ea;border-left:4px solid #1e6b2f;padding:.5rem .8rem;margin:.5rem 0}
form.inline{display:inline}label{display:block;margin:.4rem 0 .1rem;font-weight:600}input,select,button{font:inherit;padding:.3rem .5rem}
button{background:#0b5cad;color:#fff;border:0;border-radius:3px;cursor:pointer}button.secondary{background:#5d6675}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.8rem}.card{background:#fff;padding:.7rem .9rem;border:1px solid #e2e5ea}
.pager{display:flex;gap:1rem;margin:.5rem 0}.field-error{color:#9b1c1c;font-size:.9em}dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}
`;

export function page(title: string, session: Session | undefined, body: Html): Html {
  const who = session ? (session.principal.kind === 'parent' ? 'all brands (parent key)' : `brand ${session.principal.brand}`) : '';
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · rateline console</title><style>${new Html(css)}</style></head>
<body><header><strong>rateline</strong>
${session
  ? html`<nav aria-label="Main"><a href="/">Today</a><a href="/customers">Customers</a><a href="/invoices">Invoices</a><a href="/usage">Usage</a><a href="/rejections">Rejections</a><a href="/catalog">Catalogue</a><a href="/rerate">Re-rating</a><a href="/charts">Charts</a><a href="/audit">Audit</a></nav>
<span data-test="signed-in-as">Signed in: ${who}</span>
<form method="post" action="/sign-out"><input type="hidden" name="formToken" value="${session.formToken}"><button class="secondary" type="submit">Sign out</button></form>`
  : html`<nav aria-label="Main"></nav>`}
</header><main><h1>${title}</h1>${body}</main></body></html>`;
}

export function errorBox(message: string | undefined, problems: { path: string; message: string }[] = []): Html {
  if (!message) return html``;
  return html`<div class="error" role="alert">${message}${problems.length > 0 ? html`<ul>${problems.map((p) => html`<li>${p.path ? `${p.path}: ` : ''}${p.message}</li>`)}</ul>` : ''}</div>`;
}

/** Seconds as minutes with one decimal where needed (included minutes are granted in seconds). */
export const minutes = (seconds: number) => (seconds % 60 === 0 ? String(seconds / 60) : (seconds / 60).toFixed(1));
