// A headless terminal with a PC/SC card reader, and a PIV key's token as the server names it:
// shared by the hot-desking test, its bench and its demo.
import { PcscCardReader } from '../../client-firmware/src/card-reader.js';
import { HeadlessPresenter } from '../../client-firmware/src/headless-presenter.js';
import { createLogger, type Logger } from '../../client-firmware/src/log.js';
import { Terminal } from '../../client-firmware/src/terminal.js';
import { identify } from '../../session-manager/src/cards.js';
import type { PivKey } from './fake-card.js';

/** The card's token by the server's own rule (cards.ts), for binding it with `bind-card`. */
export function pivToken(k: PivKey): string {
  const id = identify({ uid: null, certificate: k.certificate.toString('base64') });
  if ('error' in id) throw new Error(id.error);
  return id.token;
}

export interface CardTerminal {
  terminal: Terminal;
  cards: PcscCardReader;
  presenter: HeadlessPresenter;
  stop(): void;
}

/** A terminal using the PC/SC reader whose name starts with `reader`, started. */
export function cardTerminal(s: { url: string; fingerprint: string }, size: { width: number; height: number }, id: string, reader: string, log: Logger = createLogger(`terminal-${id}`)): CardTerminal {
  const cards = new PcscCardReader({ readerName: reader, log });
  const terminal = new Terminal({ url: s.url, fingerprint: s.fingerprint, terminalId: id, display: { ...size, refreshMhz: 60000 }, kind: 'headless', log, cards });
  const presenter = new HeadlessPresenter(terminal);
  cards.start();
  terminal.start();
  return {
    terminal,
    cards,
    presenter,
    stop: () => {
      cards.stop();
      terminal.stop();
    },
  };
}
