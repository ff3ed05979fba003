// Key rotation with `aptos.rotateAuthKey`, the reverse lookup wallets use, and signing with the new key.
import { Account, Ed25519PrivateKey } from "@aptos-labs/ts-sdk";
import { APT, aptBalance, apiError, args, client, fund, run } from "./common.mjs";

run(async () => {
  const { node, faucet } = args();
  const aptos = client({ node, faucet });
  const alice = Account.generate();
  await fund(aptos, alice.accountAddress, 5 * APT);
  const newKey = Ed25519PrivateKey.generate();

  const rotation = await aptos.rotateAuthKey({ fromAccount: alice, toNewPrivateKey: newKey });
  const sent = await aptos.signAndSubmitTransaction({ signer: alice, transaction: rotation });
  const rotated = await aptos.waitForTransaction({ transactionHash: sent.hash });

  const renewed = Account.fromPrivateKey({ privateKey: newKey, address: alice.accountAddress, legacy: true });
  const newAuthKey = renewed.publicKey.authKey().derivedAddress();
  const original = await aptos.lookupOriginalAccountAddress({ authenticationKey: newAuthKey });
  const unrotated = await aptos.lookupOriginalAccountAddress({ authenticationKey: Account.generate().accountAddress });
  const info = await aptos.getAccountInfo({ accountAddress: alice.accountAddress });

  const transfer = () =>
    aptos.transaction.build.simple({
      sender: alice.accountAddress,
      data: { function: "0x1::aptos_account::transfer", functionArguments: [alice.accountAddress, 1] },
    });
  let oldKey = null;
  try {
    await aptos.signAndSubmitTransaction({ signer: alice, transaction: await transfer() });
  } catch (err) {
    oldKey = apiError(err);
  }
  const withNew = await aptos.signAndSubmitTransaction({ signer: renewed, transaction: await transfer() });
  const withNewDone = await aptos.waitForTransaction({ transactionHash: withNew.hash });

  return {
    address: alice.accountAddress.toString(),
    rotation: { success: rotated.success, vmStatus: rotated.vm_status, events: rotated.events.map((e) => e.type) },
    newAuthKey: newAuthKey.toString(),
    authenticationKey: info.authentication_key,
    original: original.toString(),
    unrotated: unrotated.toString(),
    oldKey,
    withNewKey: { success: withNewDone.success, sender: withNewDone.sender },
    balance: await aptBalance(aptos, alice.accountAddress),
  };
});
