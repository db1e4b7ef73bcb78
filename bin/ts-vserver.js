#!/usr/bin/env node
import("../dist/cli/vserver.js");
