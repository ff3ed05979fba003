// Faucet (/fund and /mint), transfer, simulation, views and ABI-built calls of the pictor package.
import { Account } from "@aptos-labs/ts-sdk";
import { APT, aptBalance, apiError, args, client, fund, mint, run } from "./common.mjs";

run(async () => {
  const { node, faucet, pictor } = args();
  const aptos = client({ node, faucet });
  const alice = Account.generate();
  const bob = Account.generate();
  const fundHash = await fund(aptos, alice.accountAddress, 5 * APT);
  const mintHashes = await mint(aptos, faucet, bob.accountAddress, APT);
  const funded = { alice: await aptBalance(aptos, alice.accountAddress), bob: await aptBalance(aptos, bob.accountAddress) };

  const transfer = await aptos.transaction.build.simple({
    sender: alice.accountAddress,
    data: { function: "0x1::aptos_account::transfer", functionArguments: [bob.accountAddress, 12345] },
  });
  const [simulated] = await aptos.transaction.simulate.simple({ signerPublicKey: alice.publicKey, transaction: transfer });
  const pending = await aptos.signAndSubmitTransaction({ signer: alice, transaction: transfer });
  const done = await aptos.waitForTransaction({ transactionHash: pending.hash });

  // entry functions of the pictor package, their argument types read from the module ABI the node serves
  const call = async (fn, functionArguments) => {
    const transaction = await aptos.transaction.build.simple({
      sender: alice.accountAddress,
      data: { function: `${pictor}::${fn}`, functionArguments },
    });
    const sent = await aptos.signAndSubmitTransaction({ signer: alice, transaction });
    return aptos.waitForTransaction({ transactionHash: sent.hash });
  };
  const faucetCall = await call("token::faucet", [2500]);
  const depositCall = await call("vault::deposit", [1000]);
  let badArgument = null;
  try {
    await aptos.transaction.build.simple({
      sender: alice.accountAddress,
      data: { function: `${pictor}::vault::deposit`, functionArguments: ["not a number"] },
    });
  } catch (err) {
    badArgument = String(err.message ?? err);
  }
  let abortingView = null;
  try {
    await aptos.view({ payload: { function: `${pictor}::registry::node`, functionArguments: [999999] } });
  } catch (err) {
    abortingView = apiError(err);
  }

  return {
    alice: alice.accountAddress.toString(),
    bob: bob.accountAddress.toString(),
    fundHash,
    mintHashes,
    funded,
    defaultMaxGas: transfer.rawTransaction.max_gas_amount,
    simulated: { success: simulated.success, gasUsed: simulated.gas_used, vmStatus: simulated.vm_status },
    transfer: {
      hash: done.hash,
      success: done.success,
      gasUsed: done.gas_used,
      gasUnitPrice: done.gas_unit_price,
      signatureType: done.signature?.type,
    },
    after: { alice: await aptBalance(aptos, alice.accountAddress), bob: await aptBalance(aptos, bob.accountAddress) },
    faucetCall: { success: faucetCall.success, vmStatus: faucetCall.vm_status },
    depositCall: { success: depositCall.success, vmStatus: depositCall.vm_status },
    vaultAccount: await aptos.view({
      payload: { function: `${pictor}::vault::account`, functionArguments: [alice.accountAddress.toString()] },
    }),
    tokenBalance: await aptos.view({
      payload: { function: `${pictor}::token::balance`, functionArguments: [alice.accountAddress.toString()] },
    }),
    badArgument,
    abortingView,
    sequenceNumber: (await aptos.getAccountInfo({ accountAddress: alice.accountAddress })).sequence_number,
  };
});
