/**
 * Making hidden characters visible. A character that draws nothing or reorders its neighbours
 * lets text read one way and mean another (`Move <U+061C>10 20 EUR` drawn as "Move 20 10 EUR"),
 * so every such character is replaced by a visible `[U+XXXX]` marker. Chosen by Unicode property,
 * not by a list, so new ones are covered as the engine's Unicode data grows:
 * Default_Ignorable_Code_Point (zero-width, soft hyphen, tag characters, variation selectors…),
 * Bidi_Control (U+061C, LRM/RLM, embeddings, isolates), other controls than newline and tab, and
 * lone surrogates. Pure.
 */

const HIDDEN = /[\p{Default_Ignorable_Code_Point}\p{Bidi_Control}\p{Cc}\p{Cs}]/gu;

/** `[U+XXXX]` for one code point. */
export const marker = (codePoint: number): string => `[U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}]`;

/** Replace every hidden or reordering character with its visible marker; newline and tab stay. */
export function revealHidden(text: string): string {
  return text.replace(HIDDEN, (char) => (char === "\n" || char === "\t" ? char : marker(char.codePointAt(0) ?? 0)));
}

/** Whether the text holds any character `revealHidden` would replace. */
export function hasHidden(text: string): boolean {
  return revealHidden(text) !== text;
}
