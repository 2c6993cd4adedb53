// The folders are the architecture (DESIGN.md, "Who may import whom"): these rules keep the arrows
// pointing one way, read off every source file's imports.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/compositor.js';

interface SourceFile {
  file: string;
  imports: string[];
}

function sources(dir: string): SourceFile[] {
  const out: SourceFile[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!['node_modules', 'dist', 'build', 'gen'].includes(e.name)) walk(p);
      } else if (/\.(ts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) {
        const text = fs.readFileSync(p, 'utf8');
        const imports = [...text.matchAll(/(?:from\s+|import\s*\(\s*|require(?:\.resolve)?\s*\(\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
        out.push({ file: path.relative(ROOT, p), imports });
      }
    }
  };
  walk(path.join(ROOT, dir));
  return out;
}

/** Every import of ours (a workspace package, or a relative path) that breaks `allowed`. */
function offences(dir: string, allowed: (spec: string, file: string) => boolean): string[] {
  const bad: string[] = [];
  for (const s of sources(dir)) {
    for (const spec of s.imports) {
      const ours = spec.startsWith('@waydesk/') || spec.startsWith('.');
      if (ours && !allowed(spec, s.file)) bad.push(`${s.file} imports ${spec}`);
    }
  }
  return bad;
}

/** A relative import that stays inside its own package folder. */
function inside(pkg: string): (spec: string, file: string) => boolean {
  return (spec, file) => {
    if (!spec.startsWith('.')) return false;
    const target = path.relative(path.join(ROOT, pkg), path.resolve(ROOT, path.dirname(file), spec));
    return !target.startsWith('..');
  };
}

describe('who may import whom', () => {
  it('protocol imports nothing of ours: both ends and any future client build on it alone', () => {
    expect(offences('protocol/src', inside('protocol'))).toEqual([]);
  });

  it('the terminal knows the server only through the wire: protocol and its own native codec and devices, never the daemon, the compositor or wlroots', () => {
    const ok = (spec: string, file: string): boolean =>
      inside('client-firmware')(spec, file) || spec.startsWith('@waydesk/protocol/') || spec === '@waydesk/native-codec' || spec === '@waydesk/native-drm';
    expect(offences('client-firmware/src', ok)).toEqual([]);
    expect(offences('client-firmware/web/src', ok)).toEqual([]);
  });

  it('the compositor never imports the daemon or the terminal', () => {
    const ok = (spec: string, file: string): boolean =>
      inside('compositor')(spec, file) || spec.startsWith('@waydesk/protocol/') || spec === '@waydesk/native-compositor' || spec === '@waydesk/native-codec';
    expect(offences('compositor/src', ok)).toEqual([]);
  });

  it('the daemon takes only the protocol, PAM, the painter-free link client and the browser terminal\'s files: it never decodes a frame', () => {
    const ok = (spec: string, file: string): boolean =>
      inside('session-manager')(spec, file) ||
      spec.startsWith('@waydesk/protocol/') ||
      spec === '@waydesk/native-pam' ||
      spec === '@waydesk/compositor/ipc-client' ||
      spec === '@waydesk/client-firmware/web-assets' ||
      spec === '@waydesk/compositor/package.json';
    expect(offences('session-manager/src', ok)).toEqual([]);
  });

  it('the link client the daemon uses pulls in no native code', () => {
    const client = sources('compositor/src').find((s) => s.file.endsWith('ipc-client.ts'))!;
    expect(client.imports.filter((i) => i.startsWith('@waydesk/') && !i.startsWith('@waydesk/protocol/'))).toEqual([]);
  });

  it('a raw N-API binding is loaded by its one typed wrapper only', () => {
    const loaders: string[] = [];
    for (const dir of ['protocol', 'native', 'compositor', 'session-manager', 'client-firmware']) {
      for (const s of sources(dir)) {
        if (fs.readFileSync(path.join(ROOT, s.file), 'utf8').match(/\.node['"`]/)) loaders.push(s.file);
      }
    }
    expect(loaders.sort()).toEqual(['native/codec/ts/index.ts', 'native/compositor/ts/index.ts', 'native/drm/ts/index.ts', 'native/pam/ts/index.ts']);
  });

  it('the PC/SC binding (smartcard) is imported by the terminal\'s card reader wrapper alone', () => {
    const users: string[] = [];
    for (const dir of ['protocol', 'native', 'compositor', 'session-manager', 'client-firmware']) {
      for (const s of sources(dir)) if (s.imports.includes('smartcard')) users.push(s.file);
    }
    expect(users).toEqual(['client-firmware/src/card-reader.ts']);
  });

  it('product code never imports from test/', () => {
    for (const dir of ['protocol', 'native', 'compositor', 'session-manager', 'client-firmware']) {
      expect(offences(dir, (spec) => !spec.includes('/test/') && !spec.startsWith('test/'))).toEqual([]);
    }
  });
});
