#!/usr/bin/env node
import("../dist/cli/unshare.js");
