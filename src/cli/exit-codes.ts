// Exit codes of `heimdall`, shared by the CLI and `up` (which reads its agent's).
/** A bad setting: the message names it. */
export const EXIT_CONFIG = 2;
/** An agent that was capturing lost its capture (the pump died): `up` starts a new one. */
export const EXIT_CAPTURE_LOST = 3;
