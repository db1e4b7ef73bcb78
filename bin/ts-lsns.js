#!/usr/bin/env node
import("../dist/cli/lsns.js");
