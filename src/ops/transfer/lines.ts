import { AppError } from '../../platform/errors.js';

/** One line of an import file (JSON lines) or one record (CSV), with the line it starts on (1-based). */
export interface Numbered<T> {
  line: number;
  value: T;
}

const BOM = '\uFEFF';

/**
 * Decodes chunks of bytes as UTF-8 text, refusing anything else (a byte order mark at the
 * start is dropped). The whole source is checked before the import writes anything, so a
 * bad byte late in a file never leaves half an import behind.
 */
export async function* utf8Text(chunks: AsyncIterable<Buffer | string> | Iterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    for await (const chunk of chunks) yield decoder.decode(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, { stream: true });
    yield decoder.decode();
  } catch (error) {
    if (error instanceof TypeError) throw new AppError('invalid_encoding', 'The file is not UTF-8 text');
    throw error;
  }
}

/** Splits text into lines (LF or CRLF), numbered from 1. */
export async function* textLines(text: AsyncIterable<string> | Iterable<string>): AsyncGenerator<Numbered<string>> {
  let rest = '';
  let line = 0;
  for await (const piece of text) {
    rest += piece;
    let at = rest.indexOf('\n');
    while (at >= 0) {
      line++;
      yield { line, value: stripBom(rest.slice(0, at).replace(/\r$/, ''), line) };
      rest = rest.slice(at + 1);
      at = rest.indexOf('\n');
    }
  }
  if (rest.length > 0) yield { line: line + 1, value: stripBom(rest.replace(/\r$/, ''), line + 1) };
}

const stripBom = (text: string, line: number) => (line === 1 && text.startsWith(BOM) ? text.slice(1) : text);

/**
 * RFC 4180 records from lines: a quoted field may hold commas, doubled quotes and line
 * breaks (the record then spans lines and is numbered by its first). Blank lines are skipped.
 */
export async function* csvRecords(lines: AsyncIterable<Numbered<string>>): AsyncGenerator<Numbered<string[]>> {
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let start = 0;
  for await (const { line, value } of lines) {
    if (!quoted) {
      if (value.length === 0) continue;
      start = line;
    } else {
      field += '\n';
    }
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (quoted) {
        if (c === '"' && value[i + 1] === '"') {
          field += '"';
          i++;
        } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"' && field.length === 0) quoted = true;
      else if (c === ',') {
        fields.push(field);
        field = '';
      } else field += c;
    }
    if (!quoted) {
      fields.push(field);
      yield { line: start, value: fields };
      fields = [];
      field = '';
    }
  }
  if (quoted) throw new AppError('invalid_csv', `The quoted field that starts on line ${start} is never closed`, { line: start });
}
