import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import reactHooks from "eslint-plugin-react-hooks";
import reactRefresh from "eslint-plugin-react-refresh";
import globals from "globals";
import tseslint from "typescript-eslint";

// Layers import downwards only: shared code (components, hooks, lib, config, client) → features
// → app, and no feature imports another (bulletproof-react's project structure).
const FEATURES = [
  "admin",
  "audit",
  "auth",
  "credentials",
  "dashboard",
  "jobs",
  "schedules",
  "systems",
  "templates",
];
const UPWARDS = {
  group: ["../*", "./*/../*"],
  message: "Import with @/ rather than a relative path upwards.",
};

function restricted(...patterns) {
  return { "no-restricted-imports": ["error", { patterns: [UPWARDS, ...patterns] }] };
}

export default tseslint.config(
  { ignores: ["dist", "node_modules", "src/client/orca-api.ts"] },
  {
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    files: ["**/*.{ts,tsx,js,mjs}"],
    languageOptions: { ecmaVersion: 2023, globals: { ...globals.browser, ...globals.node } },
    plugins: { "react-hooks": reactHooks, "react-refresh": reactRefresh },
    rules: {
      "react-hooks/rules-of-hooks": "error",
      "react-hooks/exhaustive-deps": "error",
      "react-refresh/only-export-components": ["error", { allowConstantExport: true }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      ...restricted(),
    },
  },
  {
    files: ["src/components/**", "src/hooks/**", "src/lib/**", "src/config/**"],
    rules: restricted({
      group: ["@/features/*", "@/app/*"],
      message: "Shared code does not import features or the app layer.",
    }),
  },
  ...FEATURES.map((feature) => ({
    files: [`src/features/${feature}/**`],
    rules: restricted(
      {
        group: ["@/features/*", `!@/features/${feature}`],
        message:
          "Features do not import each other; move what they share to src/components, src/hooks or src/lib.",
      },
      { group: ["@/app/*"], message: "Features do not import the app layer." },
    ),
  })),
  {
    files: ["src/client/**", "scripts/**", "e2e/**", "*.config.{ts,js}"],
    rules: { "no-restricted-imports": "off" },
  },
  prettier,
);
