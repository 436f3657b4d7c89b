import type net from 'node:net';

/**
 * Connections accepted elsewhere and handed to this process (`workers: N`:
 * the primary accepts on the receivers' ports and hands each connection to
 * the worker holding the fewest). A StreamListener given a feed registers
 * with it instead of listening.
 */
export interface ConnectionFeed {
  /**
   * Hands the connections for listener `name` to `accept` until the returned function is called; `refused` hears
   * of the connections refused for it elsewhere (the primary's relay-wide maxConnections), to count and log them.
   */
  register(name: string, accept: (socket: net.Socket) => void, refused: (remoteAddress: string) => void): () => void;
}
