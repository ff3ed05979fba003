// Shared by the scripts beside it: the client for a localnet, faucet grants, views, JSON output.
import { Aptos, AptosConfig, Network } from "@aptos-labs/ts-sdk";

export const APT = 100_000_000;

/** The localnet's node and faucet URLs and the pictor package address, from the command line. */
export function args() {
  const [node, faucet, pictor] = process.argv.slice(2);
  if (!node || !faucet) {
    throw new Error("usage: node SCRIPT.mjs NODE_URL FAUCET_URL [PICTOR_ADDRESS]");
  }
  return { node, faucet, pictor };
}

/** An Aptos client for a custom network: the localnet's REST API (…/v1) and its faucet; no indexer. */
export function client({ node, faucet }) {
  const base = node.replace(/\/$/, "");
  const fullnode = base.endsWith("/v1") ? base : `${base}/v1`;
  return new Aptos(new AptosConfig({ network: Network.CUSTOM, fullnode, faucet }));
}

/** The faucet's `/fund` through the SDK; the localnet has no indexer to wait for. */
export async function fund(aptos, address, amount) {
  const txn = await aptos.fundAccount({ accountAddress: address, amount, options: { waitForIndexer: false } });
  return txn.hash;
}

/** The faucet's older `POST /mint?address=&amount=` API; waits for its transactions. */
export async function mint(aptos, faucet, address, amount) {
  const url = `${faucet.replace(/\/$/, "")}/mint?address=${address.toString()}&amount=${amount}`;
  const response = await fetch(url, { method: "POST" });
  if (!response.ok) {
    throw new Error(`faucet /mint answered ${response.status}: ${await response.text()}`);
  }
  const hashes = await response.json();
  for (const hash of hashes) {
    await aptos.waitForTransaction({ transactionHash: hash });
  }
  return hashes;
}

/** `0x1::coin::balance<AptosCoin>` through a view (the SDK's balance helpers read the indexer). */
export async function aptBalance(aptos, address) {
  const [value] = await aptos.view({
    payload: {
      function: "0x1::coin::balance",
      typeArguments: ["0x1::aptos_coin::AptosCoin"],
      functionArguments: [address.toString()],
    },
  });
  return Number(value);
}

/** The node's error answer for a refused call (`AptosApiError`), as plain data. */
export function apiError(err) {
  return { status: err.status ?? null, data: err.data ?? null, message: String(err.message ?? err) };
}

/** Print the result as one JSON line (BigInts as strings) for the Python test to read. */
export function emit(result) {
  process.stdout.write(JSON.stringify(result, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
}

/** Run `main`, print its result, and exit non-zero with the error on stderr if it throws. */
export function run(main) {
  main().then(emit, (err) => {
    process.stderr.write(`${err?.stack ?? err}\n${err?.data ? JSON.stringify(err.data) : ""}\n`);
    process.exit(1);
  });
}
