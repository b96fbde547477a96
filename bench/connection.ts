import { connect, type Socket } from 'node:net';

/** A lean HTTP/1.1 keep-alive client over a raw socket, answering status and body: the load generator of the benchmarks. */
export class Connection {
  private buffer = '';
  private pending: ((answer: { status: number; body: string }) => void) | undefined;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.receive(chunk));
    // A server closing the connection answers the request in flight with status 0 (a failure), never a hang.
    socket.on('close', () => {
      const pending = this.pending;
      this.pending = undefined;
      pending?.({ status: 0, body: 'connection closed' });
    });
  }

  static open(port: number): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  send(request: string): Promise<{ status: number; body: string }> {
    if (this.socket.destroyed) return Promise.resolve({ status: 0, body: 'connection closed' });
    return new Promise((resolve) => {
      this.pending = resolve;
      this.socket.write(request, 'latin1');
    });
  }

  close() {
    this.socket.destroy();
  }

  private receive(chunk: string) {
    this.buffer += chunk;
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(this.buffer.slice(0, end))?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const status = Number(this.buffer.slice(9, 12));
    const body = this.buffer.slice(end + 4, end + 4 + length);
    this.buffer = this.buffer.slice(end + 4 + length);
    const pending = this.pending;
    this.pending = undefined;
    pending?.({ status, body });
  }
}
