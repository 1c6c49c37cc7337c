from rest_framework import serializers

from .models import (
    Account,
    Membership,
    TencentCloudAuthorization,
    validate_tencent_secret_id,
    validate_tencent_secret_key,
)


class AccountSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Account
        fields = ["id", "name", "identity", "time_zone", "created_at", "role"]
        read_only_fields = ["id", "identity", "created_at", "role"]

    def get_role(self, account) -> str | None:
        return self.context["roles"].get(account.pk)


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["username", "email", "role", "created_at"]


class AuthorizationSerializer(serializers.ModelSerializer):
    """What may be shown of an authorization: never the SecretKey."""

    secret_key = serializers.CharField(source="masked_secret_key", read_only=True)
    authorized_by = serializers.CharField(source="authorized_by.username", default=None)

    class Meta:
        model = TencentCloudAuthorization
        fields = [
            "secret_id",
            "secret_key",
            "status",
            "authorized_by",
            "authorized_at",
            "checked_at",
            "error_code",
            "error_message",
        ]
        read_only_fields = fields


class AuthorizeSerializer(serializers.Serializer):
    secret_id = serializers.CharField(max_length=100, validators=[validate_tencent_secret_id])
    secret_key = serializers.CharField(
        max_length=200,
        write_only=True,
        trim_whitespace=True,
        validators=[validate_tencent_secret_key],
    )


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    secret_id = serializers.CharField(help_text="The SecretId that authenticated this request.")
    accounts = AccountSerializer(many=True)
