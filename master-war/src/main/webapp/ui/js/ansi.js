// ANSI escape sequences in command output: SGR colours and styles become spans (classes for the 16-colour palette,
// CSSOM styles for 256-colour and true colour); every other escape sequence (cursor moves, titles) is dropped.

export const PLAIN = Object.freeze({ fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false });

// ESC [ params final | ESC ] ... (BEL | ESC \) | ESC ( charset | ESC one-char
const ESCAPE = /\x1b(?:\[([0-9;:?<=>]*)[ -\/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[()*+#].|[@-Z\\-_=>78]|$)/g;

function colour256(n) {
  if (n < 16) return n;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const level = (x) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

/** The style after one SGR sequence's parameters. */
export function applySgr(style, params) {
  const s = { ...style };
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) Object.assign(s, PLAIN);
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 7) s.inverse = true;
    else if (c === 22) { s.bold = false; s.dim = false; }
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c === 27) s.inverse = false;
    else if (c >= 30 && c <= 37) s.fg = c - 30;
    else if (c === 39) s.fg = null;
    else if (c >= 40 && c <= 47) s.bg = c - 40;
    else if (c === 49) s.bg = null;
    else if (c >= 90 && c <= 97) s.fg = c - 90 + 8;
    else if (c >= 100 && c <= 107) s.bg = c - 100 + 8;
    else if (c === 38 || c === 48) {
      let value = null;
      if (codes[i + 1] === 5 && i + 2 < codes.length) {
        value = colour256(codes[i + 2] & 255);
        i += 2;
      } else if (codes[i + 1] === 2 && i + 4 < codes.length) {
        value = `rgb(${codes[i + 2] & 255},${codes[i + 3] & 255},${codes[i + 4] & 255})`;
        i += 4;
      }
      if (c === 38) s.fg = value;
      else s.bg = value;
    }
  }
  return s;
}

const isPlain = (s) => s.fg == null && s.bg == null && !s.bold && !s.dim && !s.italic && !s.underline && !s.inverse;

/**
 * One line of output (no newline) as segments [{text, style}], starting in style `state`; returns the segments and
 * the style at the end of the line. A carriage return starts the line over (progress bars show their last state).
 */
export function parseLine(line, state) {
  let text = line;
  const cr = text.lastIndexOf('\r');
  if (cr >= 0) {
    text = cr === text.length - 1 ? text.slice(0, cr) : text.slice(cr + 1);
    const again = text.lastIndexOf('\r');
    if (again >= 0) text = text.slice(again + 1);
  }
  if (!text.includes('\x1b')) {
    return { segments: isPlain(state) ? text : [{ text, style: state }], state };
  }
  const segments = [];
  let style = state;
  let last = 0;
  ESCAPE.lastIndex = 0;
  let m;
  while ((m = ESCAPE.exec(text)) !== null) {
    if (m.index > last) segments.push({ text: text.slice(last, m.index), style });
    if (m[2] === 'm') style = applySgr(style, m[1] || '');
    last = ESCAPE.lastIndex;
    if (m[0] === '') ESCAPE.lastIndex++;
  }
  if (last < text.length) segments.push({ text: text.slice(last), style });
  return { segments, state: style };
}

/** A DOM node for a line's segments. */
export function renderSegments(segments) {
  if (typeof segments === 'string') return document.createTextNode(segments);
  const frag = document.createDocumentFragment();
  for (const { text, style } of segments) {
    if (isPlain(style)) {
      frag.append(text);
      continue;
    }
    const span = document.createElement('span');
    let fg = style.fg;
    let bg = style.bg;
    if (style.inverse) [fg, bg] = [bg == null ? 'inv-fg' : bg, fg == null ? 'inv-bg' : fg];
    const classes = [];
    if (typeof fg === 'number') classes.push(`a-fg-${fg}`);
    else if (fg === 'inv-fg') span.style.color = 'var(--log-bg)';
    else if (fg) span.style.color = fg;
    if (typeof bg === 'number') classes.push(`a-bg-${bg}`);
    else if (bg === 'inv-bg') span.style.background = 'var(--log-text)';
    else if (bg) span.style.background = bg;
    if (style.bold) classes.push('a-b');
    if (style.dim) classes.push('a-d');
    if (style.italic) classes.push('a-i');
    if (style.underline) classes.push('a-u');
    span.className = classes.join(' ');
    span.textContent = text;
    frag.append(span);
  }
  return frag;
}
