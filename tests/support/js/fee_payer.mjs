// A sponsored (fee-payer) transaction from an account that holds no APT and does not exist yet: the sender
// signs with the fee payer unknown (0x0), the sponsor signs as fee payer; simulated first without a sponsor.
import { Account } from "@aptos-labs/ts-sdk";
import { APT, aptBalance, args, client, fund, run } from "./common.mjs";

run(async () => {
  const { node, faucet, pictor } = args();
  const aptos = client({ node, faucet });
  const newcomer = Account.generate();
  const sponsor = Account.generate();
  await fund(aptos, sponsor.accountAddress, 5 * APT);
  const sponsorBefore = await aptBalance(aptos, sponsor.accountAddress);

  const transaction = await aptos.transaction.build.simple({
    sender: newcomer.accountAddress,
    withFeePayer: true,
    data: { function: `${pictor}::token::faucet`, functionArguments: [7] },
  });
  const feePayerAtBuild = transaction.feePayerAddress?.toString();
  const [simulated] = await aptos.transaction.simulate.simple({ signerPublicKey: newcomer.publicKey, transaction });
  const senderAuthenticator = aptos.transaction.sign({ signer: newcomer, transaction });
  const feePayerAuthenticator = aptos.transaction.signAsFeePayer({ signer: sponsor, transaction });
  const pending = await aptos.transaction.submit.simple({ transaction, senderAuthenticator, feePayerAuthenticator });
  const done = await aptos.waitForTransaction({ transactionHash: pending.hash });

  return {
    newcomer: newcomer.accountAddress.toString(),
    sponsor: sponsor.accountAddress.toString(),
    feePayerAtBuild,
    simulated: { success: simulated.success, vmStatus: simulated.vm_status, gasUsed: simulated.gas_used },
    done: {
      success: done.success,
      vmStatus: done.vm_status,
      gasUsed: done.gas_used,
      gasUnitPrice: done.gas_unit_price,
      signatureType: done.signature?.type,
      feePayer: done.signature?.fee_payer_address,
    },
    newcomerInfo: await aptos.getAccountInfo({ accountAddress: newcomer.accountAddress }),
    sponsorInfo: await aptos.getAccountInfo({ accountAddress: sponsor.accountAddress }),
    sponsorSpent: sponsorBefore - (await aptBalance(aptos, sponsor.accountAddress)),
    newcomerApt: await aptBalance(aptos, newcomer.accountAddress),
    tokens: await aptos.view({
      payload: { function: `${pictor}::token::balance`, functionArguments: [newcomer.accountAddress.toString()] },
    }),
  };
});
