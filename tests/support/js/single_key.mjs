// SingleKey accounts: an Ed25519 key in the SingleKey scheme and a Secp256k1 ECDSA key; each is funded,
// simulates and sends a transfer.
import { Account, SigningSchemeInput } from "@aptos-labs/ts-sdk";
import { APT, aptBalance, args, client, fund, run } from "./common.mjs";

run(async () => {
  const { node, faucet } = args();
  const aptos = client({ node, faucet });
  const accounts = {
    ed25519: Account.generate({ scheme: SigningSchemeInput.Ed25519, legacy: false }),
    secp256k1: Account.generate({ scheme: SigningSchemeInput.Secp256k1Ecdsa }),
  };
  const recipient = Account.generate();
  const out = { recipient: recipient.accountAddress.toString() };
  for (const [name, account] of Object.entries(accounts)) {
    await fund(aptos, account.accountAddress, 3 * APT);
    const transaction = await aptos.transaction.build.simple({
      sender: account.accountAddress,
      data: { function: "0x1::aptos_account::transfer", functionArguments: [recipient.accountAddress, 1000] },
    });
    const [simulated] = await aptos.transaction.simulate.simple({ signerPublicKey: account.publicKey, transaction });
    const sent = await aptos.signAndSubmitTransaction({ signer: account, transaction });
    const done = await aptos.waitForTransaction({ transactionHash: sent.hash });
    out[name] = {
      address: account.accountAddress.toString(),
      authKey: account.publicKey.authKey().derivedAddress().toString(),
      simulated: { success: simulated.success, vmStatus: simulated.vm_status },
      success: done.success,
      vmStatus: done.vm_status,
      signature: done.signature,
      info: await aptos.getAccountInfo({ accountAddress: account.accountAddress }),
    };
  }
  out.recipientApt = await aptBalance(aptos, recipient.accountAddress);
  return out;
});
