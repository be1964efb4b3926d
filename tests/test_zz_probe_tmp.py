import json
from tests.test_authorization import *  # noqa

async def test_probe(graphql, world, tokens):
    out = []
    out.append(await graphql.execute('mutation($id: ID!) { deleteNode(id: $id) { deletedId } }', id=world.a["run_metric"]))
    out.append(await graphql.execute('mutation($id: ID!) { appendEvent(input: {subjectId: $id, type: "x"}) { events { subjectId } } }', id=world.a["job_file"]))
    g = await tokens.caller(Role.CONTRIBUTOR, "global")
    out.append(await g.execute('mutation($p: ID!) { saveRecording(input: {participantId: $p, kind: AUDIO, maneuver: WALK, knee: RIGHT, passNumber: 1, file: {path: "/a/x.pkl"}}) { recording { id file { path } } } }', p=world.a["participant"]))
    v = await tokens.caller(Role.VIEWER, "study")
    out.append(await v.execute('mutation { claimRun(input: {worker: "w", leaseSeconds: 60}) { lease { run { id } } } }'))
    out.append(await v.execute('mutation { createMolecule(input: {smiles: "CCN"}) { molecule { id } } }'))
    print(json.dumps(out, indent=1))
    assert False
