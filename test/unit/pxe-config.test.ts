// pxe-config's own arithmetic and text: the network dnsmasq answers on, and the files it writes.
import { describe, expect, it } from 'vitest';
import { networkOf, pxeFiles } from '../../session-manager/src/pxe-config.js';
import { fromCmdline } from '../../client-firmware/src/discovery.js';

describe('pxe-config', () => {
  it('finds the network of an address with its prefix, and refuses what is not one', () => {
    expect(networkOf('192.168.10.5/24')).toEqual({ address: '192.168.10.5', network: '192.168.10.0', prefix: 24 });
    expect(networkOf('10.1.200.7/20').network).toBe('10.1.192.0');
    for (const bad of ['192.168.10.5', '192.168.10.300/24', '192.168.10.5/31', 'host/24', '::1/64']) expect(() => networkOf(bad), bad).toThrow(/--address/);
  });

  it('writes a boot script whose kernel command line the terminal reads back as this server, pinned', () => {
    const fp = Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':');
    const f = pxeFiles({ address: '192.168.10.5', network: '192.168.10.0', port: 8443, fingerprint: fp, version: '0.1.0+abc', out: '/srv/pxe', interface: 'eth1' });
    const kernel = f.bootIpxe.split('\n').find((l) => l.startsWith('kernel '))!;
    expect(kernel).toMatch(/^kernel tftp:\/\/192\.168\.10\.5\/vmlinuz /);
    // the screen is the last console: the terminal's status lines go there
    expect(kernel).toMatch(/console=ttyS0 console=tty0/);
    expect(fromCmdline(kernel.split(' ').slice(2).join(' '))).toEqual({ url: 'wss://192.168.10.5:8443/terminal', fingerprint: fp, from: 'the kernel command line' });
    expect(f.dnsmasqConf).toMatch(/^interface=eth1\nbind-interfaces$/m);
    expect(f.dnsmasqConf).toMatch(/^dhcp-range=192\.168\.10\.0,proxy$/m);
    expect(f.dnsmasqConf).toMatch(/^tftp-root=\/srv\/pxe$/m);
    expect(pxeFiles({ address: '10.0.2.2', network: '10.0.2.0', port: 1, fingerprint: fp, version: 'v', out: '/x', http: 'http://10.0.2.2:8000/', serialConsole: true }).bootIpxe).toMatch(/^kernel http:\/\/10\.0\.2\.2:8000\/vmlinuz console=tty0 console=ttyS0 /m);
  });
});
