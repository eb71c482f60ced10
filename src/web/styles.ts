/**
 * The one stylesheet, served from /assets/app.css so the CSP can forbid inline styles.
 * Mobile first: a phone is where people approve things.
 */
export const APP_CSS = `
:root{color-scheme:light dark;--fg:#111;--muted:#555;--bg:#fafafa;--card:#fff;--line:#ddd;--accent:#0b57d0;--warn:#8a4b00;--warn-bg:#fff4e0}
@media (prefers-color-scheme:dark){:root{--fg:#eee;--muted:#aaa;--bg:#121212;--card:#1e1e1e;--line:#333;--accent:#8ab4f8;--warn:#ffcc80;--warn-bg:#3a2a10}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
main{max-width:34rem;margin:0 auto;padding:1.25rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.25rem;margin:1rem 0}
h1{font-size:1.35rem;line-height:1.3;margin:.25rem 0 1rem}
.brand{font-weight:600;color:var(--muted);font-size:.9rem;letter-spacing:.02em}
.muted{color:var(--muted);font-size:.95rem;overflow-wrap:anywhere}
.warn{background:var(--warn-bg);color:var(--warn);border-radius:8px;padding:.75rem;font-size:.95rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;word-break:break-all}
ul.scopes{list-style:none;padding:0;margin:.5rem 0}
ul.scopes>li{padding:.5rem 0;border-top:1px solid var(--line)}
ul.scopes>li.focus{background:var(--warn-bg);border-radius:8px;padding:.5rem}
label{display:flex;gap:.6rem;align-items:flex-start}
input[type=checkbox]{width:1.25rem;height:1.25rem;margin-top:.15rem;flex:none}
input[type=email],input[type=text],input[type=password],input[type=url]{width:100%;font:inherit;padding:.7rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg)}
.actions{display:flex;gap:.75rem;margin-top:1.25rem}
button{flex:1;font:inherit;font-weight:600;padding:.8rem 1rem;border-radius:10px;border:1px solid var(--line);background:var(--card);color:var(--fg);min-height:48px}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
@media (prefers-color-scheme:dark){button.primary{color:#000}}
a.button{flex:1;display:flex;align-items:center;justify-content:center;font-weight:600;padding:.8rem 1rem;border-radius:10px;border:1px solid var(--line);background:var(--card);color:var(--fg);min-height:48px;text-decoration:none}
button.danger{background:#b3261e;border-color:#b3261e;color:#fff}
nav.jump{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 0}
nav.jump a{display:inline-block;padding:.45rem .8rem;border:1px solid var(--line);border-radius:999px;text-decoration:none;overflow-wrap:anywhere}
ul.reads{list-style:none;padding:0;margin:.75rem 0}
ul.reads>li{padding:.6rem 0;border-top:1px solid var(--line)}
pre.reason,pre.body{white-space:pre-wrap;word-break:break-word;background:var(--bg);border:1px solid var(--line);border-radius:8px;padding:.75rem;font:14px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace;max-height:24rem;overflow:auto}
textarea,select{width:100%;font:inherit;padding:.6rem;border:1px solid var(--line);border-radius:8px;background:var(--card);color:var(--fg)}
ul.plain{list-style:none;padding:0;margin:.25rem 0}
ul.plain li{padding:.2rem 0}
table{width:100%;border-collapse:collapse;font-size:.9rem}
td,th{text-align:left;padding:.35rem .25rem;border-top:1px solid var(--line);vertical-align:top}
form.inline{display:block;margin-top:.5rem}
form.inline button{min-height:40px;padding:.4rem 1rem;flex:none}
.small{font-size:.85rem}
ul.history li{word-break:break-word}
a{color:var(--accent)}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.35rem .75rem;margin:.75rem 0;padding:.75rem;border:1px solid var(--line);border-radius:8px}
dl.summary dt{font-weight:600}
dl.summary dd{margin:0;overflow-wrap:anywhere}
@media (max-width:26rem){dl.summary{grid-template-columns:1fr}dl.summary dd{margin-bottom:.35rem}}
.done{font-weight:600}
.handoff{display:none}
@media (min-width:64rem){.handoff{display:flex;gap:1.25rem;align-items:center;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.25rem;margin:1rem 0}}
.handoff p{margin:.25rem 0}
svg.qr{flex:none;background:#fff;border-radius:4px}
`;
