// zod/mini words no message until a locale is set (zod classic sets English by itself on its
// first schema): the tools print zod's English messages in their "field: message (got value)"
// lines, so both schema modules (src/sandbox/spec.ts, src/oci/config.ts) load this first.
// As zod classic does, a locale the caller chose first is kept. en.js alone, not zod's
// locales index: that one loads all of its 60 locales.
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

if (!config().localeError) config(en());
