#!/usr/bin/env node
import("../dist/cli/chcontext.js");
