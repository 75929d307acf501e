"""The leak corpus: text shapes that real Django services print, each holding secrets.

Every shape is ``(text, secrets)``: ``text`` is written as Django, DRF, requests/urllib3,
psycopg, Celery, boto and friends write it (a repr, an exception message, a URL, a header, a
settings dump); ``secrets`` are the substrings that must never reach a log line, a span or the
Elasticsearch document. Secrets carry distinctive values so that finding one in the output can
only be a leak.
"""

from __future__ import annotations

PW = "Hunter2-pw-9d1"
TOK = "tok-7Fq2LxW9vR"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
GHP = "ghp_" + "Zr8Qk2Lm5Np7Tv1Wx4Yz6Ab9Cd3Ef0Gh2Ij4"
GH_PAT = "github_pat_11AAQZ7GA0" + "pS9vNQw4vHhXyZ_LmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuV"
SK_LIVE = "sk_live_" + "51Hq9LyjWDarjtT1zdp7dcZq0"
SK_TEST = "sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc"
RK_LIVE = "rk_live_" + "51Hq9LyjWDarjtT1zdp7dcRk2"
AKIA = "AKIAJQ7ZP4EXAMPLEK2X"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
AMZ_SIG = "b8c2e6f1d0a9e4b7c3a5d8f2e1b4c7a0d3f6e9b2c5a8d1e4f7b0c3a6d9e2f5a8"
CARD_VISA = "4111111111111111"
CARD_MC = "5555 5555 5555 4444"
CARD_AMEX = "3782-822463-10005"
CARD_DISCOVER = "6011000990139424"
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" * 8
SESSION = "sess0a1b2c3d4e5f6g7h8i9j"
CSRF = "csrfQ1w2E3r4T5y6U7i8O9p0"

SHAPES: list[tuple[str, list[str]]] = [
    # --- Django request data, forms and debug pages ---------------------------------------------
    (f"<QueryDict: {{'username': ['bob'], 'password': ['{PW}']}}>", [PW]),
    (f"<QueryDict: {{'csrfmiddlewaretoken': ['{CSRF}'], 'password': ['{PW}', 'again']}}>", [CSRF, PW]),
    (f"<MultiValueDict: {{'new_password1': ['{PW}'], 'new_password2': ['{PW}']}}>", [PW]),
    (f"{{'old_password': '{PW}', 'new_password1': '{PW}x', 'new_password2': '{PW}x'}}", [PW]),
    (f"{{'password1': ['{PW}'], 'password2': ['{PW}']}}", [PW]),
    (f"cleaned_data={{'email': 'a@b.c', 'password': '{PW}'}}", [PW]),
    (f"POST data: username=bob&password={PW}&next=%2F", [PW]),
    (f"request.POST = <QueryDict: {{'passwords': ['{PW}', '{PW}2']}}>", [PW]),
    (f"'HTTP_COOKIE': 'sessionid={SESSION}; csrftoken={CSRF}'", [SESSION, CSRF]),
    (f"'HTTP_AUTHORIZATION': 'Bearer {TOK}'", [TOK]),
    (f"META={{'HTTP_X_API_KEY': '{TOK}', 'REMOTE_ADDR': '10.0.0.1'}}", [TOK]),
    (f"'SECRET_KEY': 'django-insecure-{TOK}'", [TOK]),
    (f"DATABASES = {{'default': {{'ENGINE': 'x', 'PASSWORD': '{PW}', 'HOST': 'db'}}}}", [PW]),
    (f"settings.EMAIL_HOST_PASSWORD = '{PW}'", [PW]),
    (f"password = '{PW}'\nuser = 'bob'", [PW]),
    (f"Local vars: request=<WSGIRequest: POST '/login/'> password='{PW}' form=<LoginForm>", [PW]),
    (f"COOKIES: {{'sessionid': '{SESSION}', 'theme': 'dark'}}", [SESSION]),
    (f"session_key='{SESSION}'", [SESSION]),
    (f"[('password', '{PW}'), ('username', 'bob')]", [PW]),
    (f"(('token', '{TOK}'),)", [TOK]),
    (f"Set-Cookie: sessionid={SESSION}; expires=Thu; HttpOnly; Path=/", [SESSION]),
    (f"Cookie: PHPSESSID={SESSION}; connect.sid=s%3A{TOK}", [SESSION, TOK]),
    (f"signed cookie sig={TOK} rejected", [TOK]),
    (f"reset link /reset/MQ/set-password/?token={TOK}", [TOK]),
    # --- DRF and validation errors ----------------------------------------------------------
    (
        f"{{'password': [ErrorDetail(string='This password is too common: {PW}.', "
        "code='password_too_common')]}}",
        [PW],
    ),
    (f"ValidationError({{'api_key': ['Invalid key {TOK}']}})", [TOK]),
    (f"{{'non_field_errors': ['bad'], 'token': ['{TOK} has expired']}}", [TOK]),
    (f"serializer.data={{'user': 'bob', 'credentials': {{'key': 'k', 'value': '{PW}'}}}}", [PW]),
    (f"initial_data={{'secrets': ['{TOK}', '{PW}']}}", [TOK, PW]),
    (f"{{'api_keys': ['{TOK}', '{TOK}2']}}", [TOK]),
    (f"{{'tokens': ('{TOK}', '{TOK}3')}}", [TOK]),
    (f"{{'cookies': {{'sessionid': '{SESSION}'}}}}", [SESSION]),
    # --- JSON bodies and documents -------------------------------------------------------------
    (f'{{"password": "{PW}"}}', [PW]),
    (f'{{"password": "hun\\"{PW}"}}', [PW]),
    (f'{{"password":"{PW} with spaces and \\\\ backslash"}}', [PW]),
    (f'{{\\"password\\": \\"{PW}\\", \\"user\\": \\"bob\\"}}', [PW]),
    (f'{{\\"password\\": \\"a\\\\\\"{PW}\\"}}', [PW]),
    (f'{{"client_secret": "{TOK}", "client_id": "app"}}', [TOK]),
    (f'{{"refresh_token": "{TOK}", "expires_in": 3600}}', [TOK]),
    (f'{{"access_token":"{JWT}","token_type":"Bearer"}}', [JWT]),
    (
        '{"type": "service_account", "private_key_id": "abc", "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + PEM_BODY
        + '\\n-----END PRIVATE KEY-----\\n", "client_email": "x@y.iam.gserviceaccount.com"}',
        [PEM_BODY[:40]],
    ),
    (f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----", [PEM_BODY[:40]]),
    (f"key loaded: -----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}", [PEM_BODY[:40]]),
    (f"-----BEGIN ENCRYPTED PRIVATE KEY-----{PEM_BODY}-----END ENCRYPTED PRIVATE KEY-----", [PEM_BODY[:40]]),
    (f'{{"card": {{"number": "{CARD_VISA}", "cvc": "123"}}}}', [CARD_VISA]),
    (f'{{"webhook": {{"signature": "{TOK}"}}}}', [TOK]),
    (f'[{{"name": "db", "password": "{PW}"}}, {{"name": "cache", "password": "{PW}"}}]', [PW]),
    (f'{{"passphrase": "{PW}"}}', [PW]),
    (f'{{"privatekey": "{TOK}"}}', [TOK]),
    # --- key=value, key: value, command lines, env dumps -----------------------------------
    (f"login failed password={PW} for bob", [PW]),
    (f"password: {PW}", [PW]),
    (f"PASSWORD={PW}", [PW]),
    (f"DB_PASSWORD={PW} DB_HOST=db", [PW]),
    (f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET}", [AWS_SECRET]),
    (f"aws_secret_access_key = {AWS_SECRET}", [AWS_SECRET]),
    (f"api_key={TOK}&format=json", [TOK]),
    (f"apiKey: '{TOK}'", [TOK]),
    (f"X-Api-Key: {TOK}", [TOK]),
    (f"x-auth-token={TOK}", [TOK]),
    (f"manage.py createsuperuser --password {PW} --username admin", [PW]),
    (f"pg_dump --password={PW} shop", [PW]),
    (f"user.password={PW}", [PW]),
    (f"password.confirm={PW}", [PW]),
    (f"secret_2={TOK}", [TOK]),
    (f"token1={TOK} token2={TOK}x", [TOK]),
    (f"Authorization: Bearer {TOK}", [TOK]),
    (f"Authorization: Basic {TOK}=", [TOK]),
    (f"Proxy-Authorization: Digest {TOK}", [TOK]),
    (f"Authorization: Token {TOK}", [TOK]),
    (f"sent Bearer {JWT} upstream", [JWT]),
    (f"token => '{TOK}'", [TOK]),
    (f"password%3D{PW}%26next%3D%2F", [PW]),
    # --- requests, urllib3, httpx exception texts ------------------------------------------
    (
        f"HTTPSConnectionPool(host='api.stripe.com', port=443): Max retries exceeded with url: "
        f"/v1/charges?api_key={TOK}&amount=100 (Caused by NewConnectionError('failed'))",
        [TOK],
    ),
    (
        f"ProxyError('Unable to connect to proxy', OSError('Tunnel connection failed: 407')) "
        f"proxies={{'https': 'http://proxyuser:{PW}@proxy.corp:3128'}}",
        [PW],
    ),
    (f"401 Client Error: Unauthorized for url: https://api.example.com/v1/me?access_token={TOK}", [TOK]),
    (f"Client error '403 Forbidden' for url 'https://hooks.example.com/x?sig={TOK}'", [TOK]),
    (f"ConnectionError: https://bob:{PW}@internal.example.com/api timed out", [PW]),
    (f"GET https://{GHP}@github.com/org/repo.git failed", [GHP]),
    (f"git clone https://x-access-token:{GHP}@github.com/org/repo.git", [GHP]),
    (f"GET https://oauth2:{TOK}@gitlab.com/group/proj.git", [TOK]),
    (f"redirect to /accounts/login/?next=https://admin:{PW}@intranet/", [PW]),
    (f"Invalid URL 'https://user:{PW}@host:badport/'", [PW]),
    # --- database and broker DSNs ------------------------------------------------------------
    (f"postgres://shop:{PW}@db.internal:5432/shop", [PW]),
    (f"postgres://user:hun@{PW}@db/x", [PW]),
    (f"postgresql://shop:{PW}@db/shop?sslmode=require", [PW]),
    (
        f'connection to server at "db" (10.0.0.5), port 5432 failed: FATAL: password authentication '
        f'failed for user "shop" (dsn: host=db user=shop password={PW} dbname=shop)',
        [PW],
    ),
    (f'invalid dsn: missing "=" after "host=db password=\'{PW} x\'"', [PW]),
    (f"psycopg.OperationalError: conninfo 'dbname=shop user=shop password={PW} host=db'", [PW]),
    (f"mysql://root:{PW}@127.0.0.1:3306/shop", [PW]),
    (f"pymysql.connect(host='db', user='shop', password='{PW}', database='shop')", [PW]),
    (f"amqp://guest:pa/{PW}@rabbit//", [PW]),
    (f"redis://:{PW}@cache:6379/0", [PW]),
    (f"rediss://default:{PW}@cache.example.com:6380", [PW]),
    (f"Cannot connect to amqp://shop:{PW}@rabbit:5672/shop: [Errno 111] Connection refused.", [PW]),
    (f"mongodb+srv://app:{PW}@cluster0.mongodb.net/shop?retryWrites=true", [PW]),
    (f"DATABASE_URL='postgres://shop:{PW}@db/shop'", [PW]),
    (f"elasticsearch: https://elastic:{PW}@es:9200 unreachable", [PW]),
    # --- Celery task arguments -----------------------------------------------------------------
    (
        f"Task shop.tasks.charge[5b1f] received: args: ('{CARD_VISA}',) kwargs: {{'token': '{TOK}'}}",
        [CARD_VISA, TOK],
    ),
    (f"Task shop.tasks.login[1] raised: ValueError(\"{{'password': '{PW}'}}\")", [PW]),
    (f"celery.send_task('notify', kwargs={{'api_key': '{TOK}', 'to': 'bob'}})", [TOK]),
    (f"args=('bob', {{'password': '{PW}'}}) kwargs={{}}", [PW]),
    (f"<AsyncResult: shop.tasks.sync(creds={{'secret': '{TOK}'}})>", [TOK]),
    # --- cloud: S3 presigned URLs, AWS keys, tokens without keys ------------------------------
    (
        f"https://shop.s3.amazonaws.com/invoice.pdf?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={AKIA}%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
        f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={AMZ_SIG}",
        [AKIA, AMZ_SIG],
    ),
    (f"https://b.s3.amazonaws.com/k?AWSAccessKeyId={AKIA}&Signature={AMZ_SIG}&Expires=1", [AKIA, AMZ_SIG]),
    (f"X-Amz-Security-Token={TOK}", [TOK]),
    (f"botocore: credentials found: access key {AKIA}", [AKIA]),
    (f"InvalidAccessKeyId: The AWS Access Key Id you provided ({AKIA}) does not exist", [AKIA]),
    (f"decoded {JWT} for user 7", [JWT]),
    (f"Authorization header eyJ-less? no: {JWT}", [JWT]),
    (f"github token {GHP} revoked", [GHP]),
    (f"GITHUB_TOKEN value {GH_PAT}", [GH_PAT]),
    (f"stripe.error.AuthenticationError: Invalid API Key provided: {SK_LIVE}", [SK_LIVE]),
    (f"using {SK_TEST} in tests", [SK_TEST]),
    (f"restricted key {RK_LIVE}", [RK_LIVE]),
    # --- card numbers ---------------------------------------------------------------------
    (f"charge failed for card {CARD_VISA}", [CARD_VISA]),
    (f"card {CARD_MC} declined", [CARD_MC]),
    (f"amex {CARD_AMEX} expired", [CARD_AMEX]),
    (f"order 42: pan={CARD_DISCOVER}", [CARD_DISCOVER]),
    (f"['{CARD_VISA}', 'bob']", [CARD_VISA]),
    # --- exception texts that quote the structures above ------------------------------------
    (f"KeyError: \"{{'password': '{PW}'}}\"", [PW]),
    (f"TypeError: login() got an unexpected keyword argument 'pwd' (pwd={PW})", [PW]),
    (f"IntegrityError: duplicate key value violates unique constraint DETAIL: Key (token)=({TOK})", [TOK]),
    (f'django.core.signing.BadSignature: Signature "{TOK}" does not match', [TOK]),
]
