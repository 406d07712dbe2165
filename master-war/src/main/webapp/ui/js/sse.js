// Server-Sent Events over fetch(): EventSource cannot send an Authorization header, and the token must never go in a
// URL. Parses the text/event-stream format (id:, event:, data:, comments) itself.
import { api } from './api.js';

/** Splits a text/event-stream into events; feed() takes decoded text in any chunking. */
export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.reset();
  }

  reset() {
    this.event = '';
    this.data = [];
    this.id = null;
  }

  feed(text) {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const nl = this.buffer.indexOf('\n', start);
      if (nl < 0) break;
      let line = this.buffer.slice(start, nl);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      start = nl + 1;
      this.line(line);
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === '') {
      if (this.data.length > 0 || this.event) {
        this.onEvent({ type: this.event || 'message', data: this.data.join('\n'), id: this.id });
      }
      this.reset();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id') this.id = value;
  }
}

/**
 * Follows an event stream of the API until it ends or signal aborts. Resolves when the server closes the stream;
 * rejects with the API's error, or with 'not-an-event-stream' when the endpoint answered something else (a master
 * without live output).
 */
export async function followEvents(path, { signal, lastEventId, onEvent }) {
  const headers = { Accept: 'text/event-stream' };
  if (lastEventId) headers['Last-Event-ID'] = lastEventId;
  const response = await api(path, { headers, signal, raw: true });
  const type = response.headers.get('Content-Type') || '';
  if (!type.startsWith('text/event-stream') || !response.body) {
    response.body?.cancel();
    const error = new Error('not-an-event-stream');
    error.notAStream = true;
    throw error;
  }
  const parser = new EventParser(onEvent);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
  } finally {
    reader.releaseLock();
  }
}
