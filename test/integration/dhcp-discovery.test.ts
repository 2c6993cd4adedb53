// Finding the server by DHCP: a site's DHCP server (dnsmasq) sends option 224, the netboot
// image's DHCP client (busybox udhcpc with pxe/udhcpc.script, as /init runs it) takes the lease
// and hands the option to the terminal's discovery. Both run in network namespaces this test
// makes (joined by a veth pair) and removes: nothing answers or asks on this machine's networks.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discover } from '../../client-firmware/src/discovery.js';
import { ROOT, isRoot, waitFor } from '../helpers/compositor.js';

const has = (bin: string): boolean => ['/usr/sbin', '/usr/bin', '/bin', '/sbin'].some((d) => fs.existsSync(path.join(d, bin)));
const FINGERPRINT = Array.from({ length: 32 }, (_, i) => (i * 7 + 3).toString(16).padStart(2, '0').toUpperCase()).join(':');
const OPTION = `waydesk.server=10.77.0.1:8443 waydesk.fingerprint=${FINGERPRINT}`;

describe.skipIf(!isRoot() || !has('dnsmasq') || !has('busybox'))('the server named by DHCP option 224', () => {
  const tag = `wd${process.pid % 100000}`;
  const srv = `${tag}s`;
  const cli = `${tag}c`;
  let dir = '';
  let dnsmasq: ChildProcess | null = null;
  const hadNetnsDir = fs.existsSync('/etc/netns');
  const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-dhcp-'));
    ip('netns', 'add', srv);
    ip('netns', 'add', cli);
    // the client's resolv.conf: `ip netns exec` puts /etc/netns/NAME/resolv.conf over /etc/resolv.conf
    // for what runs there, so the lease script writes this one, never the machine's
    fs.mkdirSync(`/etc/netns/${cli}`, { recursive: true });
    fs.writeFileSync(`/etc/netns/${cli}/resolv.conf`, '');
    ip('link', 'add', `${tag}vs`, 'netns', srv, 'type', 'veth', 'peer', 'name', `${tag}vc`, 'netns', cli);
    ip('-n', srv, 'addr', 'add', '10.77.0.1/24', 'dev', `${tag}vs`);
    ip('-n', srv, 'link', 'set', `${tag}vs`, 'up');
    ip('-n', cli, 'link', 'set', `${tag}vc`, 'up');
    let log = '';
    // as a site would write it (book/src/netboot.md): quoted, so dnsmasq sends it as text
    const conf = path.join(dir, 'dnsmasq.conf');
    fs.writeFileSync(conf, `port=0\ninterface=${tag}vs\nbind-interfaces\ndhcp-range=10.77.0.10,10.77.0.20,1h\ndhcp-leasefile=${dir}/leases\ndhcp-option-force=224,"${OPTION}"\nlog-dhcp\n`);
    // `ip netns exec` execs dnsmasq itself: this pid is dnsmasq's
    dnsmasq = spawn('ip', ['netns', 'exec', srv, 'dnsmasq', '--no-daemon', `--conf-file=${conf}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    dnsmasq.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    await waitFor(`dnsmasq to listen (${log})`, () => /DHCP, IP range/.test(log) || dnsmasq!.exitCode !== null, 10_000);
    if (dnsmasq.exitCode !== null) throw new Error(`dnsmasq exited: ${log}`);
  });

  afterAll(() => {
    if (dnsmasq && dnsmasq.exitCode === null) dnsmasq.kill('SIGTERM');
    for (const ns of [srv, cli]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made
      }
    }
    fs.rmSync(`/etc/netns/${cli}`, { recursive: true, force: true });
    if (!hadNetnsDir) fs.rmSync('/etc/netns', { recursive: true, force: true });
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the image's DHCP client takes the lease and the terminal finds the server and its fingerprint there", () => {
    const run = path.join(dir, 'run');
    // what /init runs, but once (-q) and in the client's namespace
    execFileSync('ip', ['netns', 'exec', cli, 'busybox', 'udhcpc', '-i', `${tag}vc`, '-s', path.join(ROOT, 'pxe/udhcpc.script'), '-O', '224', '-n', '-q', '-t', '5', '-T', '1'], { env: { ...process.env, WAYDESK_RUN_DIR: run }, stdio: ['ignore', 'ignore', 'pipe'] });
    expect(ip('-n', cli, '-4', '-o', 'addr', 'show', 'dev', `${tag}vc`)).toMatch(/inet 10\.77\.0\.(1\d|20)\/24/);
    expect(fs.readFileSync(path.join(run, 'dhcp-server'), 'utf8')).toBe(OPTION);
    const none = path.join(dir, 'none');
    expect(discover({ cmdline: none, dhcpFile: path.join(run, 'dhcp-server'), configFile: none })).toEqual({ url: 'wss://10.77.0.1:8443/terminal', fingerprint: FINGERPRINT, from: 'DHCP option 224' });
    // the kernel command line, the admin's own boot configuration, still comes first
    const cmdline = path.join(dir, 'cmdline');
    fs.writeFileSync(cmdline, `quiet waydesk.server=10.0.0.9:9443 waydesk.fingerprint=${FINGERPRINT}\n`);
    expect(discover({ cmdline, dhcpFile: path.join(run, 'dhcp-server'), configFile: none })?.url).toBe('wss://10.0.0.9:9443/terminal');
  });
});
