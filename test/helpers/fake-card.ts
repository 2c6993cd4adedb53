// A smartcard of our own for the vsmartcard vpcd reader: connecting to the reader's port is
// inserting the card, closing is pulling it out. It speaks vpcd's socket protocol (2-byte
// big-endian length, then a control byte or an APDU) and answers what a terminal asks of a card:
// the ATR, the reader UID (`FF CA 00 00 00`), and for a PIV card the authentication key's
// certificate (GET DATA 5FC105) and a signature of the terminal's challenge with that key
// (GENERAL AUTHENTICATE, slot 9A, ECC P-256), made here with the card's own private key.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A P-256 key with a self-signed certificate, as a PIV card's slot 9A holds them. */
export interface PivKey {
  privateKey: crypto.KeyObject;
  /** DER */
  certificate: Buffer;
}

/** Makes a PIV authentication key and its certificate (openssl, as an admin issuing a card would). */
export function makePivKey(subject = 'waydesk test card'): PivKey {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wd-piv-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.der');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-outform', 'DER', '-out', cert, '-subj', `/CN=${subject}`, '-days', '3650'], { stdio: 'ignore' });
    return { privateKey: crypto.createPrivateKey(fs.readFileSync(key)), certificate: fs.readFileSync(cert) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface FakeCardOptions {
  /** What the reader reports for FF CA; null: the card does not answer it. */
  uid?: Buffer | null;
  atr?: Buffer;
  /** A PIV card: the key in slot 9A. */
  piv?: PivKey | null;
  /** Signs with this key instead of the one its certificate is for (a forged card). */
  signWith?: crypto.KeyObject;
  /** Answers every challenge after the first with the first answer (a recorded one, replayed). */
  replay?: boolean;
  /** The PIV PIN its key wants before it signs (as real PIV cards do for slot 9A); 3 tries. */
  pin?: string;
}

const OK = Buffer.from([0x90, 0x00]);
const NOT_FOUND = Buffer.from([0x6a, 0x82]);
const NOT_SUPPORTED = Buffer.from([0x6a, 0x81]);
const PIV_AID = Buffer.from('a000000308', 'hex');
/** A plausible contactless ATR (PC/SC part 3 for a MIFARE-like card). */
const DEFAULT_ATR = Buffer.from('3b8f8001804f0ca000000306030001000000006a', 'hex');

// P-256, for signing a digest as a card does (Node's crypto hashes what it signs; a card signs
// the bytes it is given).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const G: [bigint, bigint] = [0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n, 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n];
const mod = (a: bigint, m: bigint): bigint => ((a % m) + m) % m;
function inv(a: bigint, m: bigint): bigint {
  let [r0, r1, s0, s1] = [mod(a, m), m, 1n, 0n];
  while (r1) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  return mod(s0, m);
}
function add(a: [bigint, bigint] | null, b: [bigint, bigint] | null): [bigint, bigint] | null {
  if (!a) return b;
  if (!b) return a;
  if (a[0] === b[0] && mod(a[1] + b[1], P) === 0n) return null;
  const l = a[0] === b[0] ? mod(3n * a[0] * a[0] - 3n, P) * inv(2n * a[1], P) : mod(b[1] - a[1], P) * inv(b[0] - a[0], P);
  const x = mod(l * l - a[0] - b[0], P);
  return [x, mod(l * (a[0] - x) - a[1], P)];
}
function mul(k: bigint, p: [bigint, bigint]): [bigint, bigint] | null {
  let r: [bigint, bigint] | null = null;
  let q: [bigint, bigint] | null = p;
  for (; k > 0n; k >>= 1n) {
    if (k & 1n) r = add(r, q);
    q = add(q, q);
  }
  return r;
}
const big = (b: Buffer): bigint => BigInt(`0x${b.toString('hex') || '0'}`);
function derInt(v: bigint): Buffer {
  let b = Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
  while (b.length > 1 && b[0] === 0 && b[1]! < 0x80) b = b.subarray(1);
  if (b[0]! >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

/** ECDSA over a digest as given (what PIV GENERAL AUTHENTICATE does), DER-encoded. */
export function signDigest(key: crypto.KeyObject, digest: Buffer): Buffer {
  const d = big(Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url'));
  const e = big(digest.subarray(0, 32));
  for (;;) {
    const k = mod(big(crypto.randomBytes(40)), N - 1n) + 1n;
    const r = mod(mul(k, G)![0], N);
    const s = mod(inv(k, N) * (e + r * d), N);
    if (r === 0n || s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

/** BER-TLV with a one- or two-byte tag. */
function tlv(tag: number[], value: Buffer): Buffer {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from(tag), Buffer.from(len), value]);
}

export class FakeCard {
  readonly #o: FakeCardOptions;
  #socket: net.Socket | null = null;
  /** What a long answer still has to give through GET RESPONSE. */
  #pending: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  #selected = false;
  #firstAnswer: Buffer<ArrayBufferLike> | null = null;
  #pinTries = 3;
  #verified = false;
  /** The PINs it was given (VERIFY), as they reached it. */
  readonly pinsGiven: string[] = [];
  /** The APDUs the card was sent, in hex: what left the terminal. */
  readonly heard: string[] = [];

  constructor(o: FakeCardOptions = {}) {
    this.#o = o;
  }

  get inserted(): boolean {
    return this.#socket !== null;
  }

  /** Puts the card in the vpcd reader listening on this port. */
  async insert(port: number, host = '127.0.0.1'): Promise<void> {
    if (this.#socket) throw new Error('the card is in a reader already');
    const socket = net.connect(port, host);
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('error', () => {});
    this.#socket = socket;
    this.#selected = false;
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) break;
        const msg = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        const answer = this.#answer(msg);
        if (answer) socket.write(Buffer.concat([Buffer.from([answer.length >> 8, answer.length & 0xff]), answer]));
      }
    });
    socket.on('close', () => {
      if (this.#socket === socket) this.#socket = null;
    });
  }

  /** Pulls the card out. */
  async remove(): Promise<void> {
    const s = this.#socket;
    if (!s) return;
    this.#socket = null;
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve());
      s.destroy();
    });
  }

  /** What the card answers a command APDU with (data, then SW1 SW2). */
  answer(apdu: Buffer): Buffer {
    this.heard.push(apdu.toString('hex'));
    return this.#apdu(apdu);
  }

  /** Freshly powered: nothing selected, no PIN verified (a new insertion). */
  powerOn(): Buffer {
    this.#selected = false;
    this.#verified = false;
    return this.#o.atr ?? DEFAULT_ATR;
  }

  #answer(msg: Buffer): Buffer | null {
    if (msg.length === 1) {
      // 0 power off, 1 power on, 2 reset: no answer; 4: the ATR
      if (msg[0] === 2 || msg[0] === 0) {
        this.#selected = false;
        this.#verified = false;
      }
      return msg[0] === 4 ? (this.#o.atr ?? DEFAULT_ATR) : null;
    }
    this.heard.push(msg.toString('hex'));
    return this.#apdu(msg);
  }

  /** Sends at most 256 bytes, and says how many more GET RESPONSE can have (61 xx). */
  #chunk(data: Buffer): Buffer {
    const now = data.subarray(0, 256);
    this.#pending = data.subarray(256);
    if (!this.#pending.length) return Buffer.concat([now, OK]);
    return Buffer.concat([now, Buffer.from([0x61, Math.min(this.#pending.length, 0xff) & 0xff])]);
  }

  #apdu(a: Buffer): Buffer {
    const [cla, ins, p1, p2] = [a[0]!, a[1]!, a[2]!, a[3]!];
    const data = a.length > 5 ? a.subarray(5, 5 + a[4]!) : Buffer.alloc(0);
    if (cla === 0xff && ins === 0xca && p1 === 0) return this.#o.uid ? Buffer.concat([this.#o.uid, OK]) : NOT_SUPPORTED;
    if (ins === 0xc0) return this.#chunk(this.#pending);
    const piv = this.#o.piv;
    if (ins === 0xa4 && p1 === 0x04) {
      this.#selected = !!piv && data.subarray(0, PIV_AID.length).equals(PIV_AID);
      // the application property template: the AID, and that's all a terminal needs
      return this.#selected ? Buffer.concat([tlv([0x61], tlv([0x4f], Buffer.from('000010000100', 'hex'))), OK]) : NOT_FOUND;
    }
    if (!piv || !this.#selected) return Buffer.from([0x6d, 0x00]);
    if (ins === 0xcb && p1 === 0x3f && p2 === 0xff) {
      // GET DATA 5C 03 5FC105: the PIV authentication certificate object
      if (!data.equals(Buffer.from('5c035fc105', 'hex'))) return NOT_FOUND;
      const object = tlv([0x53], Buffer.concat([tlv([0x70], piv.certificate), tlv([0x71], Buffer.from([0])), tlv([0xfe], Buffer.alloc(0))]));
      return this.#chunk(object);
    }
    if (ins === 0x20 && p2 === 0x80 && this.#o.pin !== undefined) {
      if (this.#pinTries === 0) return Buffer.from([0x69, 0x83]);
      const given = Buffer.from(data).toString('latin1').replace(/\xff+$/, '');
      this.pinsGiven.push(given);
      if (given === this.#o.pin) {
        this.#pinTries = 3;
        this.#verified = true;
        return OK;
      }
      this.#pinTries--;
      return this.#pinTries === 0 ? Buffer.from([0x69, 0x83]) : Buffer.from([0x63, 0xc0 | this.#pinTries]);
    }
    if (ins === 0x87 && p1 === 0x11 && p2 === 0x9a) {
      if (this.#o.pin !== undefined && !this.#verified) return Buffer.from([0x69, 0x82]);
      // 7C { 82 00, 81 challenge }: sign the challenge as it is
      const m = /^7c..8200(?:81)(..)(.*)$/s.exec(data.toString('hex'));
      if (!m) return Buffer.from([0x6a, 0x80]);
      const challenge = Buffer.from(m[2]!, 'hex').subarray(0, parseInt(m[1]!, 16));
      const sig = (this.#o.replay && this.#firstAnswer) || signDigest(this.#o.signWith ?? piv.privateKey, challenge);
      this.#firstAnswer ??= sig;
      return this.#chunk(tlv([0x7c], tlv([0x82], sig)));
    }
    return Buffer.from([0x6d, 0x00]);
  }
}
