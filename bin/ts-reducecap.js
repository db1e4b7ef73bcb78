#!/usr/bin/env node
import("../dist/cli/reducecap.js");
