#!/usr/bin/env node
import("../dist/cli/nsenter.js");
