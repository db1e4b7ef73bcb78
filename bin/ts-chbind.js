#!/usr/bin/env node
import("../dist/cli/chbind.js");
