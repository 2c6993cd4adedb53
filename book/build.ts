// npm run book: renders book/src/*.md into book/site/*.html, with the SUMMARY as navigation.
import fs from 'node:fs';
import path from 'node:path';
import { marked } from 'marked';

const here = path.dirname(new URL(import.meta.url).pathname);
const src = path.join(here, 'src');
const out = path.join(here, 'site');
fs.mkdirSync(out, { recursive: true });

const summary = fs.readFileSync(path.join(src, 'SUMMARY.md'), 'utf8');
const pages = [...summary.matchAll(/\[([^\]]+)\]\(([^)]+\.md)\)/g)].map((m) => ({ title: m[1]!, file: m[2]! }));
const nav = pages.map((p) => `<li><a href="${p.file.replace(/\.md$/, '.html')}">${p.title}</a></li>`).join('');

for (const p of pages) {
  const md = fs.readFileSync(path.join(src, p.file), 'utf8');
  const body = (marked.parse(md, { async: false }) as string).replace(/href="([^"#:]+)\.md(#[^"]*)?"/g, 'href="$1.html$2"');
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${p.title} · waydesk</title>
<style>body{font:16px/1.5 system-ui,sans-serif;margin:0;display:flex}nav{width:14rem;padding:1rem;background:#f3f3f3;min-height:100vh}
main{max-width:52rem;padding:1rem 2rem}code,pre{background:#f6f6f6}pre{padding:.6rem;overflow:auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.2rem .5rem;vertical-align:top}img{max-width:100%}</style></head>
<body><nav><strong>waydesk</strong><ul>${nav}</ul></nav><main>${body}</main></body></html>\n`;
  fs.writeFileSync(path.join(out, p.file.replace(/\.md$/, '.html')), html);
}
// pictures the pages show (the hot-desking demo's), as they are
if (fs.existsSync(path.join(src, 'images'))) fs.cpSync(path.join(src, 'images'), path.join(out, 'images'), { recursive: true });
process.stdout.write(`book: ${pages.length} pages in ${path.relative(process.cwd(), out)}/\n`);
