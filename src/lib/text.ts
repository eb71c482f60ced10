/** Small text checks shared by input validation. Pure. */

/** Whether the text contains C0 control characters or DEL (header injection, log forging). */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
