def test_store_answers(store):
    assert store.ping()
    acct = store.create_account("acme")
    assert len(acct.account_id) == 32 and len(acct.api_key) == 64
