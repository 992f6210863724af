// @packageDocumentation block and explicit export list: see STYLE.md 1.
// Data path (keys, KIDs, header, seal/open, replay window): exports below this line.
// -- data-path exports end --
// HPKE, membership proofs, constant-time compare: exports below this line.
// -- control-path exports end --
export {}
