// A multi-agent transaction: the operator registers a node whose own account co-signs
// (pictor::registry::register_node_cosigned, two `&signer` parameters), simulated first.
import { Account } from "@aptos-labs/ts-sdk";
import { APT, args, client, fund, run } from "./common.mjs";

run(async () => {
  const { node, faucet, pictor } = args();
  const aptos = client({ node, faucet });
  const operator = Account.generate();
  const nodeAccount = Account.generate();
  await fund(aptos, operator.accountAddress, 5 * APT);
  await fund(aptos, nodeAccount.accountAddress, APT);

  const transaction = await aptos.transaction.build.multiAgent({
    sender: operator.accountAddress,
    secondarySignerAddresses: [nodeAccount.accountAddress],
    data: {
      function: `${pictor}::registry::register_node_cosigned`,
      functionArguments: [2, nodeAccount.publicKey.toUint8Array()],
    },
  });
  const [simulated] = await aptos.transaction.simulate.multiAgent({
    signerPublicKey: operator.publicKey,
    secondarySignersPublicKeys: [nodeAccount.publicKey],
    transaction,
  });
  const senderAuthenticator = aptos.transaction.sign({ signer: operator, transaction });
  const nodeAuthenticator = aptos.transaction.sign({ signer: nodeAccount, transaction });
  const pending = await aptos.transaction.submit.multiAgent({
    transaction,
    senderAuthenticator,
    additionalSignersAuthenticators: [nodeAuthenticator],
  });
  const done = await aptos.waitForTransaction({ transactionHash: pending.hash });
  const [nodeId] = await aptos.view({
    payload: {
      function: `${pictor}::registry::node_of_account`,
      functionArguments: [nodeAccount.accountAddress.toString()],
    },
  });
  return {
    operator: operator.accountAddress.toString(),
    node: nodeAccount.accountAddress.toString(),
    simulated: { success: simulated.success, vmStatus: simulated.vm_status },
    done: {
      success: done.success,
      vmStatus: done.vm_status,
      signatureType: done.signature?.type,
      secondary: done.signature?.secondary_signer_addresses,
      events: done.events.filter((e) => e.type.endsWith("::registry::NodeRegistered")).map((e) => e.data),
    },
    nodeId,
  };
});
