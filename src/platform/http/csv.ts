/**
 * One CSV cell (RFC 4180): null is empty, an object its JSON, quotes doubled, and quoted
 * when it holds a comma, quote or line break (or always, when asked). A cell a spreadsheet
 * would run as a formula (starting with = + - @, a tab or a carriage return) gets a
 * leading apostrophe, so a value chosen by an attacker never runs as one (CSV injection).
 */
export function csvCell(value: unknown, quote: 'always' | 'when-needed' = 'when-needed'): string {
  let text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return quote === 'always' || /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV line, CRLF-terminated. */
export const csvLine = (values: readonly unknown[], quote: 'always' | 'when-needed' = 'when-needed') =>
  `${values.map((value) => csvCell(value, quote)).join(',')}\r\n`;
